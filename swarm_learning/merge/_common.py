"""Input checks and bit-reproducible reductions shared by the merge methods.

Why not `@`, `np.dot`, `np.linalg.norm` or even `np.sum` over a model-sized vector: their
summation order depends on the BLAS build, its thread count and numpy's SIMD code paths, and
floating-point addition is not associative. Nodes of one swarm run on different machines, yet
must compute bit-identical merged bytes (their sha256 is compared on chain). So every reduction
here is made of IEEE-exact elementwise operations in a fixed order, plus `math.fsum`
(correctly rounded, hence independent of order) for the final scalar.
"""

from __future__ import annotations

import math

import numpy as np

from swarm_network.errors import ConfigError, InvalidWeights

# Block length for `det_sum`: large enough that the Python loop over blocks is cheap, small
# enough that the partial-sum buffer is negligible next to a model.
_BLOCK = 1 << 16


def check_inputs(stack: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (P, n) float64 stack and (P,) node weightages; drop zero-weight rows.

    A row whose weightage is 0 is treated as absent by every method (it neither contributes
    nor counts towards medians, trimming or Krum's neighbours). Raises ValueError for wrong
    shapes (a caller bug), InvalidWeights for non-finite values in the stack, and ConfigError
    for negative, non-finite or all-zero weightages.
    """
    stack = np.asarray(stack)
    weights = np.asarray(weights, dtype=np.float64)
    if stack.ndim != 2:
        raise ValueError(f"stack must be 2-D (P, n), got shape {stack.shape}")
    if stack.dtype != np.float64:
        raise ValueError(f"stack must be float64, got {stack.dtype}")
    if weights.shape != (stack.shape[0],):
        raise ValueError(f"weights must have shape ({stack.shape[0]},), got {weights.shape}")
    if stack.shape[0] == 0:
        raise ConfigError("nothing to merge: the stack has no rows")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ConfigError(f"node weightages must be finite and non-negative, got {weights}")
    keep = weights > 0
    if not keep.any():
        raise ConfigError("every node weightage is zero: nothing to merge")
    if not np.isfinite(stack).all():
        raise InvalidWeights("merge input contains NaN or Inf")
    if keep.all():
        return stack, weights
    return stack[keep], weights[keep]


def det_sum(vector: np.ndarray) -> float:
    """Sum of a 1-D float64 vector, bit-identical on every machine (see module docstring)."""
    vector = np.ascontiguousarray(vector, dtype=np.float64).reshape(-1)
    full = (vector.size // _BLOCK) * _BLOCK
    if full:
        partial = vector[:_BLOCK].copy()
        for start in range(_BLOCK, full, _BLOCK):
            partial += vector[start : start + _BLOCK]
        return math.fsum((*partial.tolist(), *vector[full:].tolist()))
    return math.fsum(vector.tolist())


def sq_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Squared Euclidean distance, reproducible bit for bit (no BLAS)."""
    diff = a - b
    diff *= diff
    return det_sum(diff)


def check_param(condition: bool, message: str) -> None:
    """Raise ConfigError(message) unless `condition`: merge parameters come from settings."""
    if not condition:
        raise ConfigError(message)
