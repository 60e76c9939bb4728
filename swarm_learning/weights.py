"""The one codec for weight files: named numpy arrays <-> safetensors bytes, plus the schema
(names, shapes, dtypes) that says which files can be merged with which.

Why safetensors and never pickle: weight files come from other nodes, which we do not trust.
Unpickling runs arbitrary code chosen by whoever wrote the bytes (`torch.load` without
`weights_only`, `np.load(allow_pickle=True)` and friends all do), so one malicious peer could
take over every learner of the swarm. safetensors is a JSON header plus raw little-endian
buffers: parsing it can fail, but it cannot execute anything.

Everything a peer sends is checked with named errors (`InvalidWeights`), never `assert`, so
the check still runs under `python -O` and the caller gets a reason it can log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors.numpy import load as _st_load
from safetensors.numpy import save as _st_save

from swarm_network.errors import InvalidWeights

if TYPE_CHECKING:  # torch is only needed by the two torch helpers, imported lazily there
    import torch

__all__ = [
    "SUPPORTED_DTYPES",
    "TensorSpec",
    "WeightSchema",
    "arrays_to_state_dict",
    "decode_weights",
    "encode_weights",
    "flatten",
    "sha256_hex",
    "state_dict_to_arrays",
    "unflatten",
    "unflatten_segments",
    "validate",
]

# Real dtypes that both numpy and safetensors know. Complex and object arrays are refused:
# merging them as float64 vectors would be meaningless or lossy.
SUPPORTED_DTYPES: frozenset[str] = frozenset(
    {
        "float16",
        "float32",
        "float64",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "bool",
    }
)


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and numpy dtype name (e.g. "float32") of one tensor."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def num_elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass(frozen=True)
class WeightSchema:
    """The layout of a model's weights; tensors are sorted by name.

    Sorting by name (not by the order of a state dict or of a decoded file, which safetensors
    does not preserve) makes the schema, its digest and the flat vector layout the same on
    every node for the same model. Two models can only be merged if their digests agree.
    """

    tensors: tuple[TensorSpec, ...]

    def __post_init__(self) -> None:
        names = [spec.name for spec in self.tensors]
        if names != sorted(names):
            raise ValueError("WeightSchema tensors must be sorted by name")
        if len(set(names)) != len(names):
            raise ValueError("WeightSchema tensor names must be unique")

    @property
    def num_elements(self) -> int:
        """Length of the flat vector that `flatten` produces."""
        return sum(spec.num_elements for spec in self.tensors)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.tensors)

    def canonical_json(self) -> str:
        """A compact, key-sorted JSON description: the input of `digest`."""
        described = [[s.name, list(s.shape), s.dtype] for s in self.tensors]
        return json.dumps(described, separators=(",", ":"), sort_keys=True)

    def digest(self) -> str:
        """sha256 hex of `canonical_json()`: equal digests mean mergeable layouts."""
        return sha256_hex(self.canonical_json().encode("utf-8"))

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> WeightSchema:
        """The schema of `arrays` (names sorted). Unsupported dtypes raise InvalidWeights."""
        specs = []
        for name in sorted(arrays):
            array = np.asarray(arrays[name])
            _check_dtype(name, array.dtype)
            specs.append(TensorSpec(name=name, shape=tuple(array.shape), dtype=array.dtype.name))
        return cls(tensors=tuple(specs))


def sha256_hex(data: bytes) -> str:
    """Lowercase sha256 hex of `data`: the id of a weight file in stores and on chain."""
    return hashlib.sha256(data).hexdigest()


def _check_dtype(name: str, dtype: np.dtype) -> None:
    if dtype.name not in SUPPORTED_DTYPES:
        raise InvalidWeights(
            f"tensor {name!r}: dtype {dtype.name} is not supported "
            f"(supported: {', '.join(sorted(SUPPORTED_DTYPES))})"
        )


def encode_weights(arrays: Mapping[str, np.ndarray]) -> bytes:
    """safetensors bytes of `arrays`, with no metadata.

    Deterministic: the same names, dtypes, shapes and values give the same bytes whatever the
    dict order, byte order or memory layout of the inputs, because safetensors lays tensors out
    sorted (by dtype alignment, then name) and we hand it contiguous little-endian copies.
    That is what lets every node that merged the same inputs report the same sha256.
    """
    prepared: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name:
            raise InvalidWeights(f"tensor names must be non-empty strings, got {name!r}")
        array = np.asarray(value)
        _check_dtype(name, array.dtype)
        # Not np.ascontiguousarray: it turns 0-d arrays (e.g. a step counter) into shape (1,).
        prepared[name] = np.asarray(array, dtype=array.dtype.newbyteorder("<"), order="C")
    return _st_save(prepared)


def decode_weights(data: bytes) -> dict[str, np.ndarray]:
    """Parse safetensors bytes into writable numpy arrays; anything malformed -> InvalidWeights.

    This only checks that the file is well-formed; call `validate` to check it against the
    model's schema and for NaN/Inf.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidWeights(f"weight file must be bytes, got {type(data).__name__}")
    try:
        loaded = _st_load(bytes(data))
    except Exception as exc:  # SafetensorError, unknown dtype (KeyError), bad shape (ValueError)
        raise InvalidWeights(f"not a valid safetensors file: {exc}") from exc
    result: dict[str, np.ndarray] = {}
    for name, array in loaded.items():
        _check_dtype(name, array.dtype)
        # frombuffer views are read-only and tied to `data`; callers get their own copies.
        result[name] = np.array(array, dtype=array.dtype.newbyteorder("="), copy=True)
    return result


def validate(arrays: Mapping[str, np.ndarray], schema: WeightSchema) -> None:
    """Raise InvalidWeights unless `arrays` fits `schema` exactly and every value is finite."""
    expected = set(schema.names)
    got = set(arrays)
    missing = sorted(expected - got)
    if missing:
        raise InvalidWeights(f"missing tensor(s): {', '.join(map(repr, missing))}")
    unexpected = sorted(got - expected, key=str)
    if unexpected:
        raise InvalidWeights(f"unexpected tensor(s): {', '.join(map(repr, unexpected))}")
    for spec in schema.tensors:
        array = arrays[spec.name]
        if not isinstance(array, np.ndarray):
            raise InvalidWeights(f"tensor {spec.name!r}: not a numpy array")
        if array.dtype.name != spec.dtype:
            raise InvalidWeights(
                f"tensor {spec.name!r}: dtype {array.dtype.name}, expected {spec.dtype}"
            )
        if tuple(array.shape) != spec.shape:
            raise InvalidWeights(
                f"tensor {spec.name!r}: shape {tuple(array.shape)}, expected {spec.shape}"
            )
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise InvalidWeights(f"tensor {spec.name!r}: contains NaN or Inf")


def flatten(arrays: Mapping[str, np.ndarray], schema: WeightSchema) -> np.ndarray:
    """One 1-D float64 vector: the tensors of `schema`, in schema (name) order, C order.

    Call `validate` first for untrusted input; this only re-checks shapes so that a wrong
    array can never silently shift the layout. Integers above 2**53 lose precision in float64.
    """
    out = np.empty(schema.num_elements, dtype=np.float64)
    offset = 0
    for spec in schema.tensors:
        array = np.asarray(arrays[spec.name])
        if tuple(array.shape) != spec.shape:
            raise InvalidWeights(
                f"tensor {spec.name!r}: shape {tuple(array.shape)}, expected {spec.shape}"
            )
        size = spec.num_elements
        out[offset : offset + size] = array.reshape(-1)
        offset += size
    return out


def unflatten(vector: np.ndarray, schema: WeightSchema) -> dict[str, np.ndarray]:
    """Inverse of `flatten`: each tensor back in its own dtype and shape.

    Casting rules for a merged vector: floats are rounded to nearest by numpy; integer
    tensors are rounded half-to-even (`np.rint`) and clipped to the dtype's range (so a merged
    step counter stays sensible instead of truncating); bool tensors are `value >= 0.5`.
    """
    vector = np.asarray(vector)
    if vector.ndim != 1 or vector.shape[0] != schema.num_elements:
        raise InvalidWeights(
            f"flat vector has shape {vector.shape}, expected ({schema.num_elements},)"
        )
    offsets = np.cumsum([0, *(spec.num_elements for spec in schema.tensors)])
    return unflatten_segments(
        (vector[start:end] for start, end in zip(offsets[:-1], offsets[1:], strict=True)), schema
    )


def unflatten_segments(
    segments: Iterable[np.ndarray], schema: WeightSchema
) -> dict[str, np.ndarray]:
    """`unflatten` of a vector handed over tensor by tensor (as `MeanAccumulator.take_segments`
    does): each float64 piece is converted, then let go before the next is asked for, so the
    float64 vector and the converted model never both exist whole."""
    result: dict[str, np.ndarray] = {}
    specs = iter(schema.tensors)
    for segment in segments:
        spec = next(specs, None)
        if spec is None or segment.shape != (spec.num_elements,):
            expected = "no more" if spec is None else f"{spec.name!r} of {spec.num_elements}"
            raise InvalidWeights(f"merged segment {segment.shape} where the schema has {expected}")
        result[spec.name] = _cast(segment, np.dtype(spec.dtype)).reshape(spec.shape)
        del segment
    if len(result) != len(schema.tensors):
        raise InvalidWeights(
            f"merged segments cover {len(result)} of {len(schema.tensors)} tensors"
        )
    return result


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "b":
        return values >= 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        rounded = np.clip(np.rint(values), float(info.min), float(info.max))
        return rounded.astype(dtype)
    return values.astype(dtype)


def state_dict_to_arrays(state_dict: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Copy a torch state dict into numpy arrays (on CPU, contiguous, detached).

    bfloat16 has no numpy dtype, so such tensors become float32 here; `arrays_to_state_dict`
    casts them back to the model's own dtype.
    """
    import torch

    arrays: dict[str, np.ndarray] = {}
    for name, tensor in state_dict.items():
        value = tensor.detach().to("cpu")
        if value.dtype == torch.bfloat16:
            value = value.to(torch.float32)
        arrays[name] = value.contiguous().numpy().copy()
    return arrays


def arrays_to_state_dict(
    arrays: Mapping[str, np.ndarray], like_state_dict: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Tensors for `model.load_state_dict`: names and shapes must match `like_state_dict`;
    each tensor takes the dtype and device of its counterpart there."""
    import torch

    missing = sorted(set(like_state_dict) - set(arrays))
    unexpected = sorted(set(arrays) - set(like_state_dict), key=str)
    if missing or unexpected:
        raise InvalidWeights(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    result: dict[str, torch.Tensor] = {}
    for name, like in like_state_dict.items():
        array = np.asarray(arrays[name])
        if tuple(array.shape) != tuple(like.shape):
            raise InvalidWeights(
                f"tensor {name!r}: shape {tuple(array.shape)}, expected {tuple(like.shape)}"
            )
        tensor: Any = torch.from_numpy(np.array(array, order="C", copy=True))
        result[name] = tensor.to(dtype=like.dtype, device=like.device)
    return result
