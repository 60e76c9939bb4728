"""Values that tasks exchange, as bytes: numpy arrays and torch models.

Why our own array container and not `np.savez`: the bytes must be the same on every node for
the same arrays (agreeing aggregators compare result hashes, and `savez` stamps the time into
its zip entries), and nothing that came from another node may ever be unpickled, so only plain
numeric dtypes are accepted. Torch models travel as safetensors, the project's weight format.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from swarm_network.errors import InvalidRequest

MAGIC = b"SWNP1\n"
_HEADER_LENGTH = struct.Struct("<I")
MAX_HEADER_BYTES = 1 << 20

Arrays = np.ndarray | list[np.ndarray] | dict[str, np.ndarray]


def _entries(value: Any) -> tuple[str, list[tuple[str, np.ndarray]]]:
    if isinstance(value, np.ndarray):
        return "array", [("", value)]
    if isinstance(value, Mapping):
        return "dict", [(str(k), np.asarray(v)) for k, v in value.items()]
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return "list", [(str(i), np.asarray(v)) for i, v in enumerate(value)]
    raise TypeError(
        f"numpy_to_bytes takes an array, a list of arrays or a dict of arrays, not "
        f"{type(value).__name__}"
    )


def numpy_to_bytes(value: Arrays) -> bytes:
    """Arrays -> bytes, the same bytes for the same arrays on every machine."""
    kind, entries = _entries(value)
    header: list[dict[str, Any]] = []
    payloads: list[bytes] = []
    for name, array in entries:
        if array.dtype.hasobject or array.dtype.kind not in "biufc":
            raise TypeError(f"array {name or '(single)'} has dtype {array.dtype}: not numeric")
        data = np.ascontiguousarray(array).tobytes()
        header.append(
            {"name": name, "dtype": array.dtype.str, "shape": list(array.shape), "size": len(data)}
        )
        payloads.append(data)
    head = json.dumps({"kind": kind, "arrays": header}, separators=(",", ":")).encode()
    return MAGIC + _HEADER_LENGTH.pack(len(head)) + head + b"".join(payloads)


def bytes_to_numpy(data: bytes) -> Arrays:
    """The arrays `numpy_to_bytes` wrote, in the same shape (array, list or dict)."""
    view = memoryview(data)
    if bytes(view[: len(MAGIC)]) != MAGIC:
        raise InvalidRequest("not an array container written by numpy_to_bytes")
    offset = len(MAGIC) + _HEADER_LENGTH.size
    try:
        (head_len,) = _HEADER_LENGTH.unpack(view[len(MAGIC) : offset])
        if head_len > MAX_HEADER_BYTES:
            raise ValueError("header too large")
        head = json.loads(bytes(view[offset : offset + head_len]))
        offset += head_len
        arrays: list[tuple[str, np.ndarray]] = []
        for entry in head["arrays"]:
            dtype = np.dtype(entry["dtype"])
            if dtype.hasobject or dtype.kind not in "biufc":
                raise ValueError(f"dtype {dtype} is not numeric")
            size = int(entry["size"])
            chunk = view[offset : offset + size]
            if len(chunk) != size:
                raise ValueError("truncated")
            shape = tuple(int(n) for n in entry["shape"])
            arrays.append((entry["name"], np.frombuffer(chunk, dtype=dtype).reshape(shape).copy()))
            offset += size
        kind = head["kind"]
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise InvalidRequest(f"array container is malformed: {exc}") from exc
    if kind == "array" and len(arrays) == 1:
        return arrays[0][1]
    if kind == "list":
        return [array for _, array in arrays]
    if kind == "dict":
        return dict(arrays)
    raise InvalidRequest(f"array container of unknown kind {kind!r}")


def torchmodel_to_bytes(model: Any) -> bytes:
    """A torch model's state dict as safetensors bytes."""
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})


def bytes_to_torchmodel(data: bytes, model: Any) -> Any:
    """Load safetensors bytes into `model` (same architecture) and return it.

    The model is given, not rebuilt from the bytes, on purpose: rebuilding would mean
    unpickling code that came from another node."""
    from safetensors.torch import load

    model.load_state_dict(load(bytes(data)))
    return model
