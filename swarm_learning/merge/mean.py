"""Weighted mean (FedAvg), in one shot or streamed one model at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import cast

import numpy as np

from swarm_network.errors import ConfigError

from ._common import check_inputs
from .method import MergeMethod, Param, Reading, one_of

CHUNK = 1 << 20  # elements scaled at a time (8 MiB of float64)


class MeanAccumulator:
    """Weighted mean of rows added one at a time, so that a learner holds the running sum
    and bounded buffers in memory instead of all P contributions.

    Add rows in the swarm's fixed order (by address): the result is then bit-identical to
    `merge` over the same rows, on every machine, because both perform the same IEEE
    operations in the same order: `acc += w_i * x_i` elementwise, then one division by
    sum_i w_i. Summing raw weightages and dividing once at the end (instead of normalising
    first) keeps exact cases exact: identical rows with integer weightages give that row.

    `segments` splits the row into consecutive pieces (a model's tensors) whose sums are kept
    as separate arrays, so that `take_segments` can hand each back and let it be freed while
    the next is still being converted: the float64 sum never coexists with a whole converted
    model, only with one tensor of it.
    """

    def __init__(self, size: int, *, segments: Sequence[int] | None = None) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        sizes = [size] if segments is None else [int(n) for n in segments]
        if sum(sizes) != size or any(n < 0 for n in sizes):
            raise ValueError(f"segments {sizes} do not split a row of {size} elements")
        self._size = size
        self._sums: list[np.ndarray | None] = [np.zeros(n, dtype=np.float64) for n in sizes]
        # Bounded scratch: a contribution is scaled CHUNK elements at a time, so the merge
        # holds the running sum plus one piece, not a float64 copy of the contribution.
        self._scratch = np.empty(min(size, CHUNK), dtype=np.float64)
        self._total = 0.0
        self._finished = False

    def add_parts(self, parts: Iterable[np.ndarray], weight: float) -> None:
        """Add one contribution given as consecutive pieces of any lengths (its tensors, or
        chunks of them, flattened, in schema order), already checked (finite, right sizes),
        with its non-negative merge weight. Each element is cast to float64, multiplied by
        the weight and added to the sum, whatever the pieces' lengths: the same bytes as one
        whole row, while no float64 copy of the whole contribution exists. A piece may be a
        reused buffer: it is consumed before the next one is asked for."""
        self._check_usable()
        if weight == 0.0:
            return
        sums = cast(list[np.ndarray], self._sums)
        segment, within = 0, 0  # where the next element goes
        added = 0
        for part in parts:
            flat = np.asarray(part).reshape(-1)
            for start in range(0, flat.size, CHUNK):
                piece = flat[start : start + CHUNK]
                if added + piece.size > self._size:
                    raise ValueError(f"contribution is longer than {self._size} elements")
                scratch = self._scratch[: piece.size]
                scratch[...] = piece  # exact: float32/float16/ints -> float64
                np.multiply(scratch, weight, out=scratch)
                done = 0
                while done < piece.size:  # a piece may end one segment and begin the next
                    while within == sums[segment].size:
                        segment, within = segment + 1, 0
                    take = min(piece.size - done, sums[segment].size - within)
                    sums[segment][within : within + take] += scratch[done : done + take]
                    within, done = within + take, done + take
                added += piece.size
        if added != self._size:
            raise ValueError(f"contribution has {added} elements, expected {self._size}")
        self._total += weight

    def result(self) -> np.ndarray:
        """The weighted mean as one row (the same bytes as `take_segments`); ConfigError if
        no positive weight was added. A single segment is divided in place, no second
        float64 copy. Ends the accumulator's use."""
        segments = list(self.take_segments())
        return segments[0] if len(segments) == 1 else np.concatenate(segments)

    def take_segments(self) -> Iterator[np.ndarray]:
        """The weighted mean, segment by segment (the same bytes as `result`), each divided
        in place and forgotten by the accumulator as it is handed out: drop it once used and
        its memory is freed. Ends the accumulator's use."""
        self._check_usable()
        self._check_weight()
        self._finished = True
        for index in range(len(self._sums)):
            segment = cast(np.ndarray, self._sums[index])
            self._sums[index] = None
            segment /= self._total
            yield segment
            del segment

    def _check_usable(self) -> None:
        if self._finished:
            raise ValueError("this accumulator's result was already taken")

    def _check_weight(self) -> None:
        if self._total <= 0.0:
            raise ConfigError("nothing to merge: no row with a positive weightage was added")


def weighted_rows_mean(
    stack: np.ndarray, weights: np.ndarray, rows: Sequence[int] | None = None
) -> np.ndarray:
    """Weighted mean of already-checked rows (finite, weights > 0), in row order: all rows,
    or those listed in `rows` (ascending), without copying them out of the stack.

    Shared by `merge`, Weiszfeld's iterations and Multi-Krum so that all of them average in
    exactly the same way.
    """
    acc = MeanAccumulator(stack.shape[1])
    for index in range(stack.shape[0]) if rows is None else rows:
        acc.add_parts([stack[index]], float(weights[index]))
    return acc.result()


#: What a contribution's weight on chain stands for under `mean`: the node's configured
#: weightage, or the number of samples it trained on (each learner then checks in with its
#: sample count as weightage: the method's `weighs_by_samples` hook says so).
WEIGHT_BY = ("weightage", "samples")


def merge(stack: np.ndarray, weights: np.ndarray, *, weight_by: str = WEIGHT_BY[0]) -> np.ndarray:
    """Weighted mean of the rows of `stack` (P, n) with weights `weights` (P,): the on-chain
    weightages, which are sample counts when the training says `weight_by="samples"`."""
    stack, weights = check_inputs(stack, weights)
    return weighted_rows_mean(stack, weights)


def _accumulator(segment_sizes: Sequence[int], *, weight_by: str = WEIGHT_BY[0]) -> MeanAccumulator:
    return MeanAccumulator(sum(segment_sizes), segments=segment_sizes)


def _weighs_by_samples(params: Mapping[str, object]) -> bool:
    return params.get("weight_by") == "samples"


METHODS = (
    MergeMethod(
        name="mean",
        merge=merge,
        reading=Reading.STREAMED,
        params=(Param("weight_by", one_of(*WEIGHT_BY), f"one of {', '.join(WEIGHT_BY)}"),),
        accumulator=_accumulator,
        weighs_by_samples=_weighs_by_samples,
        coordinate_wise=True,
    ),
)
