"""The weights codec: safetensors round trips, determinism, and refusal of bad peer input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from swarm_learning.weights import (
    TensorSpec,
    WeightSchema,
    arrays_to_state_dict,
    decode_weights,
    encode_weights,
    flatten,
    sha256_hex,
    state_dict_to_arrays,
    unflatten,
    validate,
)
from swarm_network.errors import InvalidWeights


@pytest.fixture
def arrays() -> dict[str, np.ndarray]:
    return {
        "layer.weight": np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
        "layer.bias": np.array([0.5, -1.25], dtype=np.float64),
        "bn.num_batches_tracked": np.array(12, dtype=np.int64),
    }


def test_roundtrip_keeps_names_dtypes_shapes_and_values(arrays: dict[str, np.ndarray]) -> None:
    decoded = decode_weights(encode_weights(arrays))
    assert set(decoded) == set(arrays)
    for name, original in arrays.items():
        assert decoded[name].dtype == original.dtype
        assert decoded[name].shape == original.shape
        assert np.array_equal(decoded[name], original)
        assert decoded[name].flags.writeable


def test_same_arrays_give_same_bytes_whatever_the_order_or_layout(
    arrays: dict[str, np.ndarray],
) -> None:
    reordered = {name: arrays[name] for name in reversed(list(arrays))}
    # Note np.asfortranarray would also turn the 0-d counter into shape (1,): 2-D only.
    fortran = {n: np.asfortranarray(v) if v.ndim > 1 else v for n, v in arrays.items()}
    assert not fortran["layer.weight"].flags.c_contiguous
    big_endian = {
        name: value.astype(value.dtype.newbyteorder(">")) for name, value in arrays.items()
    }
    first = encode_weights(arrays)
    assert encode_weights(reordered) == first
    assert encode_weights(fortran) == first
    assert encode_weights(big_endian) == first
    assert sha256_hex(first) == sha256_hex(encode_weights(dict(arrays)))


def test_different_values_give_different_hash(arrays: dict[str, np.ndarray]) -> None:
    changed = dict(arrays, **{"layer.bias": np.array([0.5, -1.0])})
    assert sha256_hex(encode_weights(changed)) != sha256_hex(encode_weights(arrays))


def test_sha256_hex_known_value() -> None:
    assert sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


@pytest.mark.parametrize(
    "corrupt",
    [
        b"",
        b"garbage",
        b"\xff" * 8 + b"{}",
        b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!",
    ],
)
def test_corrupt_bytes_are_refused(corrupt: bytes) -> None:
    with pytest.raises(InvalidWeights, match="safetensors"):
        decode_weights(corrupt)


def test_truncated_file_is_refused(arrays: dict[str, np.ndarray]) -> None:
    data = encode_weights(arrays)
    with pytest.raises(InvalidWeights):
        decode_weights(data[:-4])


def test_header_with_offsets_outside_the_buffer_is_refused() -> None:
    header = b'{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    header += b" " * (-len(header) % 8)
    data = len(header).to_bytes(8, "little") + header + b"\x00" * 8
    with pytest.raises(InvalidWeights):
        decode_weights(data)


def test_schema_is_sorted_and_digest_tracks_layout(arrays: dict[str, np.ndarray]) -> None:
    schema = WeightSchema.from_arrays(arrays)
    assert schema.names == ("bn.num_batches_tracked", "layer.bias", "layer.weight")
    assert schema.num_elements == 1 + 2 + 6
    assert schema.tensors[2] == TensorSpec("layer.weight", (2, 3), "float32")
    reordered = {name: arrays[name] for name in reversed(list(arrays))}
    assert WeightSchema.from_arrays(reordered).digest() == schema.digest()
    other = dict(arrays, **{"layer.bias": np.zeros(2, dtype=np.float32)})
    assert WeightSchema.from_arrays(other).digest() != schema.digest()
    assert len(schema.digest()) == 64


def test_validate_accepts_matching_arrays(arrays: dict[str, np.ndarray]) -> None:
    schema = WeightSchema.from_arrays(arrays)
    validate(decode_weights(encode_weights(arrays)), schema)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda a: a.pop("layer.bias"), "missing tensor.*layer.bias"),
        (lambda a: a.update(extra=np.zeros(1)), "unexpected tensor.*extra"),
        (lambda a: a.update({"layer.bias": np.zeros(3)}), "layer.bias.*shape"),
        (lambda a: a.update({"layer.bias": np.zeros(2, np.float32)}), "layer.bias.*dtype"),
        (lambda a: a.update({"layer.bias": np.array([1.0, np.nan])}), "layer.bias.*NaN"),
        (lambda a: a.update({"layer.bias": np.array([np.inf, 1.0])}), "layer.bias.*Inf"),
    ],
)
def test_validate_refuses_with_a_reason_naming_the_tensor(
    arrays: dict[str, np.ndarray], change, reason: str
) -> None:
    schema = WeightSchema.from_arrays(arrays)
    bad = dict(arrays)
    change(bad)
    with pytest.raises(InvalidWeights, match=reason):
        validate(bad, schema)


def test_nan_survives_encoding_but_not_validation(arrays: dict[str, np.ndarray]) -> None:
    schema = WeightSchema.from_arrays(arrays)
    poisoned = dict(arrays, **{"layer.weight": np.full((2, 3), np.nan, dtype=np.float32)})
    with pytest.raises(InvalidWeights, match="layer.weight"):
        validate(decode_weights(encode_weights(poisoned)), schema)


def test_unsupported_dtype_is_refused() -> None:
    with pytest.raises(InvalidWeights, match="complex128"):
        encode_weights({"z": np.zeros(2, dtype=np.complex128)})


def test_flatten_unflatten_roundtrip(arrays: dict[str, np.ndarray]) -> None:
    schema = WeightSchema.from_arrays(arrays)
    vector = flatten(arrays, schema)
    assert vector.dtype == np.float64 and vector.shape == (9,)
    # Schema order: bn.num_batches_tracked, layer.bias, layer.weight (C order).
    assert vector[0] == 12.0
    assert np.array_equal(vector[1:3], [0.5, -1.25])
    assert np.array_equal(vector[3:], arrays["layer.weight"].reshape(-1).astype(np.float64))
    back = unflatten(vector, schema)
    for name, original in arrays.items():
        assert back[name].dtype == original.dtype
        assert np.array_equal(back[name], original)


def test_unflatten_rounds_integers_and_thresholds_bools() -> None:
    schema = WeightSchema.from_arrays(
        {
            "count": np.zeros(3, np.int64),
            "flag": np.zeros(2, np.bool_),
            "small": np.zeros(1, np.uint8),
        }
    )
    back = unflatten(np.array([1.4, 2.6, -0.4, 0.5, 0.49, 300.0]), schema)
    assert back["count"].tolist() == [1, 3, 0]
    assert back["flag"].tolist() == [True, False]
    assert back["small"].tolist() == [255]


def test_unflatten_refuses_wrong_length(arrays: dict[str, np.ndarray]) -> None:
    schema = WeightSchema.from_arrays(arrays)
    with pytest.raises(InvalidWeights, match="expected"):
        unflatten(np.zeros(8), schema)


def test_torch_state_dict_roundtrip() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    state = model.state_dict()
    arrays = state_dict_to_arrays(state)
    assert arrays["0.weight"].dtype == np.float32
    assert arrays["1.num_batches_tracked"].dtype == np.int64
    restored = arrays_to_state_dict(decode_weights(encode_weights(arrays)), state)
    model.load_state_dict(restored)
    for name, tensor in state.items():
        assert restored[name].dtype == tensor.dtype
        assert torch.equal(restored[name], tensor)


def test_torch_bfloat16_goes_through_float32_and_back() -> None:
    state = {"w": torch.tensor([1.5, -2.0], dtype=torch.bfloat16)}
    arrays = state_dict_to_arrays(state)
    assert arrays["w"].dtype == np.float32
    assert arrays_to_state_dict(arrays, state)["w"].dtype == torch.bfloat16


def test_arrays_to_state_dict_refuses_mismatch() -> None:
    state = {"w": torch.zeros(2)}
    with pytest.raises(InvalidWeights, match="shape"):
        arrays_to_state_dict({"w": np.zeros(3, np.float32)}, state)
    with pytest.raises(InvalidWeights, match="missing"):
        arrays_to_state_dict({}, state)


def test_dtype_numpy_cannot_hold_is_refused() -> None:
    header = b'{"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}'
    header += b" " * (-len(header) % 8)
    data = len(header).to_bytes(8, "little") + header + b"\x00" * 4
    with pytest.raises(InvalidWeights):
        decode_weights(data)


def test_unflatten_segments_refuses_pieces_that_do_not_fit_the_schema() -> None:
    from swarm_learning.weights import WeightSchema, unflatten_segments

    schema = WeightSchema.from_arrays({"a": np.zeros(3, np.float32), "b": np.zeros(2, np.int64)})
    merged = unflatten_segments([np.arange(3.0), np.array([1.4, 2.6])], schema)
    assert merged["a"].dtype == np.float32 and merged["b"].tolist() == [1, 3]
    with pytest.raises(InvalidWeights, match="'b' of 2"):
        unflatten_segments([np.arange(3.0), np.arange(3.0)], schema)
    with pytest.raises(InvalidWeights, match="no more"):
        unflatten_segments([np.arange(3.0), np.arange(2.0), np.arange(1.0)], schema)
    with pytest.raises(InvalidWeights, match="cover 1 of 2"):
        unflatten_segments([np.arange(3.0)], schema)
