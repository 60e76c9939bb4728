"""Coordinate-wise trimmed mean: per coordinate, drop the k lowest and k highest values and
take the weighted mean of the rest, with k = floor(beta * P).

Trimming counts rows, not weightage (each peer is one possible attacker, whatever its
weightage). Values are sorted stably, so equal values are trimmed in row order, and the kept
values are accumulated in sorted position order, one elementwise add per position: the
result is the same bits on every machine.
"""

from __future__ import annotations

import math

import numpy as np

from ._common import check_inputs
from .mean import weighted_rows_mean
from .method import MergeMethod, Param, Reading, number_in
from .sorted_columns import sorted_column_blocks

DEFAULT_BETA = 0.2


def merge(stack: np.ndarray, weights: np.ndarray, *, beta: float = DEFAULT_BETA) -> np.ndarray:
    """Trimmed mean of `stack` (P, n); `beta` in [0, 0.5) is the fraction cut from each end."""
    stack, weights = check_inputs(stack, weights)
    rows = stack.shape[0]
    trim = math.floor(beta * rows)
    if trim == 0:  # nothing to cut: the plain weighted mean, same bits as `mean.merge`
        return weighted_rows_mean(stack, weights)
    merged = np.empty(stack.shape[1], dtype=np.float64)
    for block in sorted_column_blocks(stack, weights):
        acc = np.zeros(block.stop - block.start, dtype=np.float64)
        total = np.zeros(block.stop - block.start, dtype=np.float64)
        for position in range(trim, rows - trim):
            # With equal weightages, the scalar weight of any row is the weight at `position`.
            weight = weights[0] if block.weights is None else block.weights[position]
            acc += weight * block.values[position]
            total += weight
        acc /= total
        merged[block.start : block.stop] = acc
    return merged


METHODS = (
    MergeMethod(
        name="trimmedmean",
        merge=merge,
        reading=Reading.COORDINATE_BLOCKS,
        params=(Param("beta", number_in(0.0, 0.5, high_open=True), "a number in [0, 0.5)"),),
        coordinate_wise=True,
    ),
)
