"""Merge methods, as plugins: each module declares its methods (`method.MergeMethod`: name,
parameters, how it reads contributions), `registry` finds them by name, and `step` merges a
closed step's contributions with the training's choice.

The maths of every method is a pure numpy function `merge(stack, weights, **params)`:
`stack` is (P, n) float64, one flat model per row, rows in the swarm's fixed order (by
address); `weights` is (P,) non-negative merge weights, normalised inside; rows with weight 0
are ignored. Every method is bit-for-bit reproducible across machines (no BLAS reductions,
fixed summation order; see `_common`), because all nodes must agree on the sha256 of the
merged model. Nothing here imports torch, web3 or an HTTP library.
"""

from __future__ import annotations

from .mean import MeanAccumulator
from .method import MergeChoice, MergeMethod, Param, Reading
from .registry import DEFAULT_METHOD, METHODS, choose_merge, get_method, parse_params, register
from .step import Contributor, OwnModel, StepMerge, merge_step

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "Contributor",
    "MeanAccumulator",
    "MergeChoice",
    "MergeMethod",
    "OwnModel",
    "Param",
    "Reading",
    "StepMerge",
    "choose_merge",
    "get_method",
    "merge_step",
    "parse_params",
    "register",
]
