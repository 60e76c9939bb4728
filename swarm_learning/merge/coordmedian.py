"""Weighted coordinate-wise median: robust to a minority of outlying peers, per coordinate.

Rule, per coordinate: sort the P values ascending (stable, so equal values keep row order;
equal values are interchangeable anyway), accumulate the weightages in that order, and let
W = sum of weightages. `lo` is the first position whose cumulative weight reaches W/2, `hi`
the first that exceeds it. If they coincide the median is that value; if the cumulative
weight hits W/2 exactly (the weighted analogue of an even count) the median is the midpoint
(v[lo] + v[hi]) / 2. With equal weightages this is the textbook median (`np.median`).

Comparisons are made as 2 * cumulative vs W on raw weightages, so integer weightages give
exact ties, and cumulative sums run sequentially along the sorted axis: every node gets the
same bits. With equal weightages the cumulative sums are the same for every column, so `lo`
and `hi` are computed once.
"""

from __future__ import annotations

import numpy as np

from ._common import check_inputs
from .method import MergeMethod, Reading
from .sorted_columns import sorted_column_blocks


def merge(stack: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted coordinate-wise median of `stack` (P, n) with weightages `weights` (P,)."""
    stack, weights = check_inputs(stack, weights)
    if stack.shape[0] == 1:
        return stack[0].copy()
    merged = np.empty(stack.shape[1], dtype=np.float64)
    for block in sorted_column_blocks(stack, weights):
        if block.weights is None:  # one (lo, hi) for all columns
            lo, hi = _positions(np.cumsum(weights)[:, None])
            low_values, high_values = block.values[lo[0]], block.values[hi[0]]
        else:
            lo, hi = _positions(np.cumsum(block.weights, axis=0))
            columns = np.arange(block.stop - block.start)
            low_values, high_values = block.values[lo, columns], block.values[hi, columns]
        merged[block.start : block.stop] = np.where(
            lo == hi, low_values, (low_values + high_values) * 0.5
        )
    return merged


def _positions(cumulative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the sorted positions `lo` and `hi` of the rule above."""
    # Each column's own total (its last cumulative value), so that the comparison uses the
    # very sums it is compared with, even for weightages that are not exact in binary.
    total = cumulative[-1]
    twice = cumulative * 2.0
    return np.argmax(twice >= total, axis=0), np.argmax(twice > total, axis=0)


METHODS = (
    MergeMethod(
        name="coordmedian", merge=merge, reading=Reading.COORDINATE_BLOCKS, coordinate_wise=True
    ),
)
