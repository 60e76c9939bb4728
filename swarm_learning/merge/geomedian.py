"""Weighted geometric median (the point minimising sum_i w_i * ||x_i - z||) by Weiszfeld's
algorithm, smoothed as in RFA (Pillutla et al., 2022): robust to a minority of arbitrary rows
while using all coordinates jointly.

Start: the weighted mean. Step: z <- sum_i b_i x_i / sum_i b_i with b_i = w_i / max(d_i, eps)
and d_i = ||x_i - z|| (the `eps` floor avoids dividing by zero when z lands on a row).
Stop after `max_iter` steps, or as soon as a step moves z by at most
`tol * max(1, ||z||)` (relative, with an absolute floor for z near the origin).

Distances use `sq_distance` (no BLAS) and the averaging step is the shared weighted mean, so
every node performs the same operations in the same order and gets the same bits; the
stopping test is then also taken identically everywhere.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ._common import check_inputs, det_sum, sq_distance
from .mean import weighted_rows_mean
from .method import MergeMethod, Param, Reading, int_at_least, number_in

logger = logging.getLogger(__name__)

DEFAULT_MAX_ITER = 100
DEFAULT_TOL = 1e-7
DEFAULT_EPS = 1e-8


def merge(
    stack: np.ndarray,
    weights: np.ndarray,
    *,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    eps: float = DEFAULT_EPS,
) -> np.ndarray:
    """Weighted geometric median of the rows of `stack` (P, n)."""
    stack, weights = check_inputs(stack, weights)
    median = weighted_rows_mean(stack, weights)
    if stack.shape[0] == 1:
        return median
    raw_weights = weights.tolist()
    for iteration in range(1, max_iter + 1):
        betas = [
            weight / max(math.sqrt(sq_distance(row, median)), eps)
            for row, weight in zip(stack, raw_weights, strict=True)
        ]
        updated = weighted_rows_mean(stack, np.asarray(betas, dtype=np.float64))
        step = math.sqrt(sq_distance(updated, median))
        scale = max(1.0, math.sqrt(det_sum(median * median)))
        median = updated
        if step <= tol * scale:
            logger.debug("geomedian converged after %d iteration(s)", iteration)
            break
    else:
        logger.debug("geomedian stopped at max_iter=%d", max_iter)
    return median


METHODS = (
    MergeMethod(
        name="geomedian",
        merge=merge,
        reading=Reading.WHOLE_ROWS,
        params=(
            Param("max_iter", int_at_least(0), "an int >= 0"),
            Param("tol", number_in(0.0), "a finite number >= 0"),
            Param("eps", number_in(0.0, low_open=True), "a finite number > 0"),
        ),
    ),
)
