"""Merging one closed step: which contributions count, with what weight, and the merge
itself. Every rule here reads only chain data and the files' bytes, so every node merges the
same set in the same order and gets the same bytes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from swarm_learning.merge import MeanAccumulator, get_merge
from swarm_learning.weight_file import check_weight_file, flat_row, iter_weight_parts
from swarm_learning.weights import WeightSchema, unflatten, unflatten_segments, validate
from swarm_network.chain.records import Contribution
from swarm_network.errors import InvalidWeights, SwarmError

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


def merge_weight(c: Contribution) -> float:
    """The on-chain staleness rule: late work counts, less the later it is."""
    return float(c.weightage) / (1 + c.staleness)


def eligible_contributions(contributions: list[Contribution], base: str) -> list[Contribution]:
    """Contributions built on `base` (the previous step's agreed model) or accepted as late
    work by the contract, in address order."""
    eligible = [c for c in contributions if c.base_hash == base or c.staleness > 0]
    for c in contributions:
        if c not in eligible:
            log.warning("%s started from a stale model; not merged", c.address)
    return sorted(eligible, key=lambda c: c.address.lower())


def merge_contributions(
    contributions: list[Contribution],
    files: dict[str, Path],
    *,
    own: tuple[str, Arrays],
    schema: WeightSchema,
    method: str,
    params: dict[str, object],
) -> tuple[Arrays, list[str], list[tuple[str, str]]]:
    """Merge the delivered contributions; returns (merged arrays, addresses merged,
    (address, reason) refused). `mean` streams: its running sum plus bounded buffers."""
    own_hash, own_arrays = own
    used: list[str] = []
    bad: list[tuple[str, str]] = []
    rows: list[np.ndarray] = []
    weights: list[float] = []
    accumulator = None
    if method == "mean":
        sizes = [spec.num_elements for spec in schema.tensors]
        accumulator = MeanAccumulator(schema.num_elements, segments=sizes)
    for c in contributions:
        if c.weight_hash != own_hash and c.weight_hash not in files:
            continue  # not delivered: the caller already recorded why
        try:
            parts = _checked_parts(c.weight_hash, own_hash, own_arrays, files, schema)
        except InvalidWeights as exc:
            log.warning("contribution of %s rejected: %s", c.address, exc)
            bad.append((c.address, str(exc)))
            continue
        if accumulator is not None:
            accumulator.add_parts(parts, merge_weight(c))
        else:
            rows.append(flat_row(parts, schema.num_elements))
            weights.append(merge_weight(c))
        used.append(c.address)
    if not used:
        raise SwarmError("no valid contribution to merge (every file was refused)")
    if accumulator is not None:
        return unflatten_segments(accumulator.take_segments(), schema), used, bad
    merged = get_merge(method)(np.stack(rows), np.asarray(weights), **params)
    return unflatten(merged, schema), used, bad


def _checked_parts(
    weight_hash: str,
    own_hash: str,
    own_arrays: Arrays,
    files: dict[str, Path],
    schema: WeightSchema,
) -> Iterator[np.ndarray]:
    """One contribution's values in schema order, once all of it passed the checks. Our own
    contribution passes the same checks as everybody else's: a node whose model went NaN must
    leave itself out exactly as its peers leave it out. A peer's file is read piece by piece
    (checked in full first), never decoded whole."""
    if weight_hash == own_hash:
        validate(own_arrays, schema)
        return (own_arrays[t.name] for t in schema.tensors)
    path = files[weight_hash]
    extents = check_weight_file(path, schema)
    return iter_weight_parts(path, extents)
