"""Weighted mean (FedAvg), in one shot or streamed one model at a time."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from swarm_network.errors import ConfigError, InvalidWeights

from ._common import check_inputs

CHUNK = 1 << 20  # elements scaled at a time (8 MiB of float64)


class MeanAccumulator:
    """Weighted mean of rows added one at a time, so that a learner holds about two models in
    memory (the running sum and the row being added) instead of all P.

    Add rows in the swarm's fixed order (by address): the result is then bit-identical to
    `merge` over the same rows, on every machine, because both perform the same IEEE
    operations in the same order: `acc += w_i * x_i` elementwise, then one division by
    sum_i w_i. Summing raw weightages and dividing once at the end (instead of normalising
    first) keeps exact cases exact: identical rows with integer weightages give that row.
    """

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        self._acc = np.zeros(size, dtype=np.float64)
        # Bounded scratch: a contribution is scaled CHUNK elements at a time, so the merge
        # holds the running sum plus one contribution, not a float64 copy of it as well.
        self._scratch = np.empty(min(size, CHUNK), dtype=np.float64)
        self._total = 0.0
        self._count = 0
        self._finished = False

    @property
    def count(self) -> int:
        """Number of rows added so far (zero-weight rows included)."""
        return self._count

    @property
    def total_weight(self) -> float:
        return self._total

    def add(self, row: np.ndarray, weight: float) -> None:
        """Add one flat float64 row with its non-negative node weightage."""
        row = np.asarray(row)
        if row.shape != self._acc.shape or row.dtype != np.float64:
            raise ValueError(
                f"row must be float64 of shape {self._acc.shape}, got {row.dtype} {row.shape}"
            )
        weight = float(weight)
        if not np.isfinite(weight) or weight < 0:
            raise ConfigError(f"node weightage must be finite and non-negative, got {weight}")
        if not np.isfinite(row).all():
            raise InvalidWeights("merge input contains NaN or Inf")
        self._add_checked(row, weight)

    def _add_checked(self, row: np.ndarray, weight: float) -> None:
        self.add_parts([row], weight)

    def add_parts(self, parts: Iterable[np.ndarray], weight: float) -> None:
        """Add one contribution given as consecutive pieces (its tensors, flattened, in schema
        order), already checked (finite, right sizes). Each element goes through exactly the
        operations of `add`: cast to float64, times the weight, added to the sum; so the
        result is the same bytes, while no float64 copy of the whole contribution exists."""
        if self._finished:
            raise ValueError("this accumulator's result was already taken in place")
        self._count += 1
        if weight == 0.0:
            return
        offset = 0
        for part in parts:
            flat = np.asarray(part).reshape(-1)
            for start in range(0, flat.size, CHUNK):
                piece = flat[start : start + CHUNK]
                scratch = self._scratch[: piece.size]
                scratch[...] = piece  # exact: float32/float16/ints -> float64
                np.multiply(scratch, weight, out=scratch)
                self._acc[offset : offset + piece.size] += scratch
                offset += piece.size
        if offset != self._acc.size:
            raise ValueError(f"contribution has {offset} elements, expected {self._acc.size}")
        self._total += weight

    def result(self, *, in_place: bool = False) -> np.ndarray:
        """The weighted mean so far; ConfigError if no positive weight was added.

        `in_place` divides the running sum itself (no second float64 copy of the model) and
        ends the accumulator's use: the same bytes, less peak memory."""
        if self._finished:
            raise ValueError("this accumulator's result was already taken in place")
        if self._total <= 0.0:
            raise ConfigError("nothing to merge: no row with a positive weightage was added")
        if in_place:
            self._acc /= self._total
            self._finished = True
            return self._acc
        return self._acc / self._total


def weighted_rows_mean(stack: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of already-checked rows (finite, weights > 0), in row order.

    Shared by `merge`, Weiszfeld's iterations and Multi-Krum so that all of them average in
    exactly the same way.
    """
    acc = MeanAccumulator(stack.shape[1])
    for row, weight in zip(stack, weights.tolist(), strict=True):
        acc._add_checked(row, weight)
    return acc.result()


def merge(stack: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of the rows of `stack` (P, n) with node weightages `weights` (P,)."""
    stack, weights = check_inputs(stack, weights)
    return weighted_rows_mean(stack, weights)
