"""Krum and Multi-Krum (Blanchard et al., 2017): keep the rows that sit closest to their
neighbours, so that up to `f` Byzantine rows far from the honest ones are left out.

Score of row i: the sum of squared distances from x_i to its k nearest other rows, with
k = P - f - 2 (at least 1, at most P - 1). Krum returns the row with the lowest score;
Multi-Krum returns the weighted mean of the `m` rows with the lowest scores (default
m = P - f). Ties in score go to the lower row index (stable sort), so with rows in the
swarm's fixed order every node picks the same rows. The selection itself ignores weightages
(one peer, one vote); Multi-Krum's average uses them. Rows with weightage 0 are dropped
first, like in every method, so they neither score nor count as neighbours. The guarantee
of the paper needs P > 2f + 2; with fewer rows the methods still run and log a warning.

All distances are computed without BLAS (see `_common`) and summed in ascending order, so
scores, and hence choices, are identical on every machine.
"""

from __future__ import annotations

import logging

import numpy as np

from ._common import check_inputs, check_param, sq_distance
from .mean import weighted_rows_mean
from .method import MergeMethod, Param, Reading, int_at_least

logger = logging.getLogger(__name__)

DEFAULT_F = 1


def scores(stack: np.ndarray, f: int) -> list[float]:
    """Krum score of each row of an already-checked stack (lower is more central)."""
    rows = stack.shape[0]
    distances = [[0.0] * rows for _ in range(rows)]
    for i in range(rows):
        for j in range(i + 1, rows):
            distances[i][j] = distances[j][i] = sq_distance(stack[i], stack[j])
    neighbours = min(rows - 1, max(1, rows - f - 2))
    result = []
    for i in range(rows):
        nearest = sorted(distances[i][j] for j in range(rows) if j != i)[:neighbours]
        total = 0.0
        for value in nearest:  # ascending, sequential: the same sum everywhere
            total += value
        result.append(total)
    return result


def _select(stack: np.ndarray, f: int, count: int) -> list[int]:
    """Indices (ascending) of the `count` rows with the lowest scores; ties -> lower index."""
    rows = stack.shape[0]
    if rows <= 2 * f + 2:
        logger.warning(
            "krum: %d row(s) cannot guarantee tolerance of f=%d Byzantine peers "
            "(needs more than %d)",
            rows,
            f,
            2 * f + 2,
        )
    if rows == 1:
        return [0]
    row_scores = scores(stack, f)
    ranked = sorted(range(rows), key=lambda index: (row_scores[index], index))
    return sorted(ranked[:count])


def krum(stack: np.ndarray, weights: np.ndarray, *, f: int = DEFAULT_F) -> np.ndarray:
    """The single most central row of `stack` (P, n), tolerating `f` Byzantine rows."""
    stack, weights = check_inputs(stack, weights)
    chosen = _select(stack, f, 1)[0]
    logger.debug("krum selected row %d of %d weighted rows", chosen, stack.shape[0])
    return stack[chosen].copy()


def multikrum(
    stack: np.ndarray, weights: np.ndarray, *, f: int = DEFAULT_F, m: int | None = None
) -> np.ndarray:
    """Weighted mean of the `m` most central rows (default m = P - f, at least 1)."""
    stack, weights = check_inputs(stack, weights)
    rows = stack.shape[0]
    count = max(1, rows - f) if m is None else m
    # Known only now: how many contributions this step has (the type was checked up front).
    check_param(count <= rows, f"multikrum: m must be an int in [1, {rows}], got {m!r}")
    chosen = _select(stack, f, count)
    logger.debug("multikrum selected rows %s of %d weighted rows", chosen, rows)
    return weighted_rows_mean(stack, weights, chosen)


_F = Param("f", int_at_least(0), "an int >= 0")

METHODS = (
    MergeMethod(name="krum", merge=krum, reading=Reading.WHOLE_ROWS, params=(_F,)),
    MergeMethod(
        name="multikrum",
        merge=multikrum,
        reading=Reading.WHOLE_ROWS,
        params=(_F, Param("m", int_at_least(1, or_none=True), "an int >= 1 (or null)")),
    ),
)
