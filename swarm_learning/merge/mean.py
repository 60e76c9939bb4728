"""Weighted mean (FedAvg), in one shot or streamed one model at a time."""

from __future__ import annotations

import numpy as np

from swarm_network.errors import ConfigError, InvalidWeights

from ._common import check_inputs


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
        self._scratch = np.empty(size, dtype=np.float64)
        self._total = 0.0
        self._count = 0

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
        self._count += 1
        if weight == 0.0:
            return
        np.multiply(row, weight, out=self._scratch)
        self._acc += self._scratch
        self._total += weight

    def result(self) -> np.ndarray:
        """The weighted mean so far (a new array); ConfigError if no positive weight was added."""
        if self._total <= 0.0:
            raise ConfigError("nothing to merge: no row with a positive weightage was added")
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
