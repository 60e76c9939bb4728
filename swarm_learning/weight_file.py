"""Reading a peer's weight file piece by piece, so that merging P contributions never holds
a whole decoded contribution in memory (the streaming `mean` keeps its running sum and a few
megabytes of buffers, whatever the model's size).

The file is checked in full before anything of it is merged (`check_weight_file`): the
safetensors layout by the safetensors library itself (the same parser `decode_weights`
uses), then names, dtypes and shapes against the model's schema, then every value for NaN/Inf,
chunk by chunk. Only then does `iter_weight_parts` read it a second time for the merge. A bad
file is therefore refused whole and never half-added, exactly as `validate` refuses it after a
full decode, and with the same messages.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open

from swarm_learning.weights import WeightSchema
from swarm_network.errors import InvalidWeights

#: Bytes read at a time: big enough that per-read overhead is nothing, small next to a model.
READ_CHUNK_BYTES = 8 << 20

# safetensors dtype tags of the dtypes in `weights.SUPPORTED_DTYPES` (always little-endian).
_NUMPY_DTYPES: dict[str, np.dtype] = {
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I8": np.dtype("i1"),
    "I16": np.dtype("<i2"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"),
    "U16": np.dtype("<u2"),
    "U32": np.dtype("<u4"),
    "U64": np.dtype("<u8"),
    "BOOL": np.dtype("?"),
}


#: What a header entry may take beyond its name and numbers (the JSON keys, the dtype tag,
#: quotes and brackets), and what the whole header may take beyond its entries (safetensors'
#: padding to 8 bytes, a short `__metadata__`).
HEADER_BYTES_PER_TENSOR = 96
HEADER_BYTES_EXTRA = 4096
#: Digits and a comma of one number in a header (a shape dimension or a data offset).
HEADER_BYTES_PER_NUMBER = 21


def max_file_bytes(schema: WeightSchema) -> int:
    """The most bytes a weight file of `schema` can have: its data plus a generous bound on
    its header. A peer's file longer than this cannot be valid, so a download stops there
    instead of reading whatever a peer chooses to send."""
    data = sum(spec.num_elements * np.dtype(spec.dtype).itemsize for spec in schema.tensors)
    header = HEADER_BYTES_EXTRA + sum(
        HEADER_BYTES_PER_TENSOR
        + 6 * len(spec.name.encode("utf-8"))  # worst case: every byte escaped as \u00XX
        + HEADER_BYTES_PER_NUMBER * (len(spec.shape) + 2)
        for spec in schema.tensors
    )
    return 8 + header + data


@dataclass(frozen=True)
class TensorExtent:
    """Where one tensor's bytes lie in the file, and how to read them."""

    name: str
    dtype: np.dtype
    start: int  # absolute file offset of the first byte
    nbytes: int


def check_weight_file(path: Path, schema: WeightSchema) -> list[TensorExtent]:
    """The extents of the file's tensors in schema order, once the whole file has passed the
    checks of `decode_weights` + `validate`; InvalidWeights (with their messages) otherwise."""
    extents = _read_layout(path, schema)
    floats = [extent for extent in extents if extent.dtype.kind == "f"]
    for extent, chunk in _iter_chunks(path, floats):
        if not np.isfinite(chunk).all():
            raise InvalidWeights(f"tensor {extent.name!r}: contains NaN or Inf")
    return extents


def iter_weight_parts(path: Path, extents: list[TensorExtent]) -> Iterator[np.ndarray]:
    """The file's values as consecutive flat pieces, in schema order (the layout of
    `weights.flatten`); each piece is only valid until the next one is produced."""
    for _, chunk in _iter_chunks(path, extents):
        yield chunk


def fill_row(parts: Iterable[np.ndarray], row: np.ndarray) -> None:
    """Fill `row` (a float64 row of a preallocated stack) with the values of `weights.flatten`,
    from consecutive pieces."""
    offset = 0
    for part in parts:
        flat = np.asarray(part).reshape(-1)
        row[offset : offset + flat.size] = flat
        offset += flat.size
    if offset != row.size:
        raise ValueError(f"contribution has {offset} elements, expected {row.size}")


def _read_layout(path: Path, schema: WeightSchema) -> list[TensorExtent]:
    try:
        # Opening validates the whole layout (header, dtypes, offsets covering the file
        # exactly) without reading the data: the file is memory-mapped, not touched.
        with safe_open(str(path), framework="numpy") as opened:
            names = set(opened.keys())
        with path.open("rb") as file:
            (header_len,) = struct.unpack("<Q", file.read(8))
            header = json.loads(file.read(header_len))
    except Exception as exc:  # SafetensorError, OSError, a header that changed under us
        raise InvalidWeights(f"not a valid safetensors file: {exc}") from exc
    missing = sorted(set(schema.names) - names)
    if missing:
        raise InvalidWeights(f"missing tensor(s): {', '.join(map(repr, missing))}")
    unexpected = sorted(names - set(schema.names))
    if unexpected:
        raise InvalidWeights(f"unexpected tensor(s): {', '.join(map(repr, unexpected))}")
    data_start = 8 + header_len
    extents = []
    for spec in schema.tensors:
        entry = header[spec.name]
        dtype = _NUMPY_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise InvalidWeights(f"tensor {spec.name!r}: dtype {entry['dtype']} is not supported")
        if dtype.name != spec.dtype:
            raise InvalidWeights(f"tensor {spec.name!r}: dtype {dtype.name}, expected {spec.dtype}")
        if tuple(entry["shape"]) != spec.shape:
            raise InvalidWeights(
                f"tensor {spec.name!r}: shape {tuple(entry['shape'])}, expected {spec.shape}"
            )
        begin, end = entry["data_offsets"]
        extents.append(TensorExtent(spec.name, dtype, data_start + begin, end - begin))
    return extents


def _iter_chunks(
    path: Path, extents: list[TensorExtent]
) -> Iterator[tuple[TensorExtent, np.ndarray]]:
    """Each tensor's values, at most READ_CHUNK_BYTES at a time, through one reused buffer."""
    try:
        yield from _read_chunks(path, extents)
    except OSError as exc:  # the file vanished or the disk failed: refuse it, do not crash
        raise InvalidWeights(f"could not read the weight file: {exc}") from exc


def _read_chunks(
    path: Path, extents: list[TensorExtent]
) -> Iterator[tuple[TensorExtent, np.ndarray]]:
    buffer = bytearray(READ_CHUNK_BYTES)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as file:
        for extent in extents:
            itemsize = extent.dtype.itemsize
            step = (READ_CHUNK_BYTES // itemsize) * itemsize
            file.seek(extent.start)
            remaining = extent.nbytes
            while remaining:
                wanted = min(step, remaining)
                filled = 0
                while filled < wanted:  # a raw read may return less than asked
                    got = file.readinto(view[filled:wanted])
                    if not got:
                        raise InvalidWeights(f"tensor {extent.name!r}: the file ended early")
                    filled += got
                remaining -= wanted
                yield extent, np.frombuffer(buffer, dtype=extent.dtype, count=wanted // itemsize)
