"""One contribution as a merge reads it: the node's own arrays, or a peer's weight file that
has passed `check_weight_file`. Either is read in pieces, never copied whole: front to back
(the streamed mean) or one range of coordinates at a time (the coordinate-wise methods, which
merge each column on its own and so can go block by block through all P contributions).

Coordinates are those of `weights.flatten`: the schema's tensors, by name, each in C order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from swarm_learning.weight_file import TensorExtent, iter_weight_parts
from swarm_learning.weights import WeightSchema
from swarm_network.errors import InvalidWeights


class _Segments:
    """Consecutive segments of a flat vector (a model's tensors): which ones a range covers."""

    def __init__(self, counts: Sequence[int]) -> None:
        self.starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).tolist()

    def overlaps(self, start: int, stop: int) -> Iterator[tuple[int, int, int]]:
        """(segment index, first, last) for each segment part inside [start, stop)."""
        for index in range(len(self.starts) - 1):
            first, last = max(start, self.starts[index]), min(stop, self.starts[index + 1])
            if first < last:
                yield index, first - self.starts[index], last - self.starts[index]


class OwnWeights:
    """This node's own model, already checked with `validate`."""

    def __init__(self, arrays: dict[str, np.ndarray], schema: WeightSchema) -> None:
        self._flat = [np.asarray(arrays[spec.name]).reshape(-1) for spec in schema.tensors]
        self._segments = _Segments([flat.size for flat in self._flat])

    def parts(self) -> Iterator[np.ndarray]:
        return iter(self._flat)

    def read_range(self, start: int, stop: int, out: np.ndarray) -> None:
        """Coordinates [start, stop) into `out` (float64, length stop - start)."""
        offset = 0
        for index, first, last in self._segments.overlaps(start, stop):
            out[offset : offset + last - first] = self._flat[index][first:last]
            offset += last - first


class FileWeights:
    """A peer's weight file that passed `check_weight_file` (which gave its extents)."""

    def __init__(self, path: Path, extents: list[TensorExtent]) -> None:
        self.path = path
        self.extents = extents
        self._segments = _Segments([e.nbytes // e.dtype.itemsize for e in extents])

    def parts(self) -> Iterator[np.ndarray]:
        return iter_weight_parts(self.path, self.extents)

    def read_range(self, start: int, stop: int, out: np.ndarray) -> None:
        """Coordinates [start, stop) into `out` (float64, length stop - start)."""
        offset = 0
        try:
            with self.path.open("rb") as file:
                for index, first, last in self._segments.overlaps(start, stop):
                    extent = self.extents[index]
                    size = extent.dtype.itemsize
                    file.seek(extent.start + first * size)
                    data = file.read((last - first) * size)
                    if len(data) != (last - first) * size:
                        raise InvalidWeights(f"tensor {extent.name!r}: the file ended early")
                    out[offset : offset + last - first] = np.frombuffer(data, dtype=extent.dtype)
                    offset += last - first
        except OSError as exc:
            raise InvalidWeights(f"could not read the weight file: {exc}") from exc


MergeInput = OwnWeights | FileWeights
