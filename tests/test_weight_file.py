"""Peer weight files read piece by piece: refused whole exactly as a full decode refuses
them, and merged to the same bytes as the one-shot merge of the decoded arrays."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from swarm_learning import weight_file
from swarm_learning.merge import Contributor, OwnModel, choose_merge, merge_step
from swarm_learning.merge import step as merge_step_module
from swarm_learning.weight_file import check_weight_file, iter_weight_parts
from swarm_learning.weights import (
    WeightSchema,
    decode_weights,
    encode_weights,
    flatten,
    sha256_hex,
    unflatten,
    validate,
)
from swarm_network.errors import InvalidWeights, SwarmError


def model(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "a.weight": rng.normal(size=(6, 5)).astype(np.float32),
        "a.bias": rng.normal(size=5).astype(np.float32),
        "b.half": rng.normal(size=(3, 3)).astype(np.float16),
        "steps": np.array(7 + seed, dtype=np.int64),
        "mask": rng.integers(0, 2, size=4).astype(bool),
    }


SCHEMA = WeightSchema.from_arrays(model(0))


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of 8 bytes: every tensor spans several chunks, as a big model's do."""
    monkeypatch.setattr(weight_file, "READ_CHUNK_BYTES", 8)


def write(tmp_path: Path, arrays: dict[str, np.ndarray]) -> Path:
    data = encode_weights(arrays)
    path = tmp_path / sha256_hex(data)
    path.write_bytes(data)
    return path


def full_decode_error(path: Path) -> str:
    with pytest.raises(InvalidWeights) as caught:
        validate(decode_weights(path.read_bytes()), SCHEMA)
    return str(caught.value)


def streamed_error(path: Path) -> str:
    with pytest.raises(InvalidWeights) as caught:
        check_weight_file(path, SCHEMA)
    return str(caught.value)


def test_pieces_are_the_flattened_model(tmp_path: Path) -> None:
    arrays = model(3)
    path = write(tmp_path, arrays)
    pieces = [
        p.astype(np.float64) for p in iter_weight_parts(path, check_weight_file(path, SCHEMA))
    ]
    assert len(pieces) > len(SCHEMA.tensors)  # really read in chunks
    assert np.concatenate(pieces).tobytes() == flatten(arrays, SCHEMA).tobytes()


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a | {"a.bias": np.array([1.0, np.nan, 0, 0, 0], dtype=np.float32)},
        lambda a: a | {"a.weight": np.full((6, 5), np.inf, dtype=np.float32)},
        lambda a: a | {"b.half": np.array([[0, 0, 0], [0, 0, 0], [0, 0, -np.inf]], np.float16)},
        lambda a: a | {"a.bias": np.zeros(6, dtype=np.float32)},
        lambda a: a | {"a.bias": np.zeros(5, dtype=np.float64)},
        lambda a: a | {"extra": np.zeros(1, dtype=np.float32)},
        lambda a: {k: v for k, v in a.items() if k != "steps"},
    ],
    ids=["nan", "inf", "inf-in-last-chunk", "shape", "dtype", "extra-tensor", "missing-tensor"],
)
def test_bad_files_are_refused_with_the_full_decode_reasons(tmp_path: Path, change) -> None:
    path = write(tmp_path, change(model(1)))
    assert streamed_error(path) == full_decode_error(path)


def test_malformed_bytes_are_refused(tmp_path: Path) -> None:
    good = encode_weights(model(1))
    (header_len,) = struct.unpack("<Q", good[:8])
    cases = {
        "truncated": good[:-3],
        "extended": good + b"\0\0",
        "garbage": b"not safetensors at all",
        "empty": b"",
        "huge-header-length": struct.pack("<Q", 1 << 60) + good[8:],
        "bad-json": good[:8] + b"{" * header_len + good[8 + header_len :],
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert "not a valid safetensors file" in streamed_error(path), name


def contribution(address: str, weight_hash: str, weight: float = 1.0) -> Contributor:
    return Contributor(address, weight_hash, weight)


@pytest.mark.parametrize("method", ["mean", "coordmedian", "trimmedmean", "krum", "geomedian"])
def test_merge_from_files_equals_the_merge_of_decoded_arrays(
    tmp_path: Path, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamed (mean), block by block of 7 coordinates across tensor borders (coordinate-wise
    methods) or as whole rows: always the bytes of the method on the decoded stack."""
    monkeypatch.setattr(merge_step_module, "COLUMN_BLOCK", 7)
    own = model(0)
    own_hash = sha256_hex(encode_weights(own))
    peers = [model(seed) for seed in (1, 2, 3, 4)]
    files = {path.name: path for path in (write(tmp_path, arrays) for arrays in peers)}
    hashes = [own_hash, *files]
    contributions = [contribution(f"0x{i:040x}", h, weight=i + 1) for i, h in enumerate(hashes)]
    params: dict[str, object] = {"f": 1} if method == "krum" else {}
    if method == "trimmedmean":
        params = {"beta": 0.2}  # one of five cut at each end
    choice = choose_merge(method, params)
    merged = merge_step(
        contributions, files, own=OwnModel(own_hash, own), schema=SCHEMA, choice=choice
    )
    assert merged.refused == () and merged.merged_from == tuple(c.address for c in contributions)
    stack = np.stack([flatten(a, SCHEMA) for a in [own, *peers]])
    expected = choice.merge_rows(stack, np.arange(1.0, 6.0))
    assert encode_weights(merged.arrays) == encode_weights(unflatten(expected, SCHEMA))


def test_a_bad_file_is_left_out_whole_and_named(tmp_path: Path) -> None:
    own = model(0)
    own_hash = sha256_hex(encode_weights(own))
    good = write(tmp_path, model(1))
    poisoned = model(2)
    poisoned["b.half"][2, 2] = np.nan  # the file is valid up to its last float value
    bad_path = write(tmp_path, poisoned)
    files = {good.name: good, bad_path.name: bad_path}
    contributions = [
        contribution("0x" + "1" * 40, own_hash),
        contribution("0x" + "2" * 40, good.name),
        contribution("0x" + "3" * 40, bad_path.name),
    ]
    mean = choose_merge("mean", {})
    merged = merge_step(
        contributions, files, own=OwnModel(own_hash, own), schema=SCHEMA, choice=mean
    )
    assert merged.merged_from == ("0x" + "1" * 40, "0x" + "2" * 40)
    assert merged.refused == (("0x" + "3" * 40, "tensor 'b.half': contains NaN or Inf"),)
    alone = merge_step(
        contributions[:2], files, own=OwnModel(own_hash, own), schema=SCHEMA, choice=mean
    )
    assert encode_weights(merged.arrays) == encode_weights(alone.arrays)


def test_own_nan_model_is_left_out_like_any_other(tmp_path: Path) -> None:
    own = model(0)
    own["a.bias"][0] = np.nan
    own_hash = sha256_hex(encode_weights(own))
    with pytest.raises(SwarmError, match="no valid contribution"):
        merge_step(
            [contribution("0x" + "1" * 40, own_hash)],
            {},
            own=OwnModel(own_hash, own),
            schema=SCHEMA,
            choice=choose_merge("mean", {}),
        )


def test_a_file_that_cannot_be_read_is_refused_not_a_crash(tmp_path: Path) -> None:
    path = write(tmp_path, model(1))
    extents = check_weight_file(path, SCHEMA)
    path.unlink()
    with pytest.raises(InvalidWeights, match="could not read the weight file"):
        list(iter_weight_parts(path, extents))
    with pytest.raises(InvalidWeights):
        check_weight_file(path, SCHEMA)
