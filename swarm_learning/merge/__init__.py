"""Merge methods: pure numpy functions `merge(stack, weights, **params) -> merged`.

`stack` is (P, n) float64, one flat model per row, rows in the swarm's fixed order (by
address); `weights` is (P,) non-negative node weightages, normalised inside; rows with
weightage 0 are ignored. Every method is bit-for-bit reproducible across machines (no BLAS
reductions, fixed summation order; see `_common`), because all nodes must agree on the sha256
of the merged model. Pick a method by name with `get_merge`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from swarm_network.errors import ConfigError

from . import coordmedian, geomedian, krum, mean, trimmedmean
from .mean import MeanAccumulator

MergeFn = Callable[..., np.ndarray]

MERGE_METHODS: dict[str, MergeFn] = {
    "mean": mean.merge,
    "coordmedian": coordmedian.merge,
    "geomedian": geomedian.merge,
    "trimmedmean": trimmedmean.merge,
    "krum": krum.krum,
    "multikrum": krum.multikrum,
}


def get_merge(name: str) -> MergeFn:
    """The merge function called `name` (case-insensitive, surrounding spaces ignored)."""
    key = name.strip().lower() if isinstance(name, str) else name
    try:
        return MERGE_METHODS[key]
    except (KeyError, TypeError):
        known = ", ".join(sorted(MERGE_METHODS))
        raise ConfigError(f"unknown merge method {name!r}; known methods: {known}") from None


__all__ = ["MERGE_METHODS", "MeanAccumulator", "MergeFn", "get_merge"]
