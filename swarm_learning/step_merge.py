"""Merging one closed step: which contributions count, with what weight, and the merge
itself. Every rule here reads only chain data and the files' bytes, so every node merges the
same set in the same order and gets the same bytes."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from swarm_learning.merge import MeanAccumulator, get_merge
from swarm_learning.merge_inputs import FileWeights, MergeInput, OwnWeights
from swarm_learning.weight_file import check_weight_file, flat_row
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


#: Methods that merge every coordinate on its own: they run over blocks of coordinates,
#: reading each contribution's slice from its file, instead of over the whole (P, n) stack.
COORDINATE_WISE = frozenset({"coordmedian", "trimmedmean"})
#: Coordinates per block: P float64 rows of this length are held at a time.
COLUMN_BLOCK = 1 << 16


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
    (address, reason) refused). Every contribution is checked in full before any is merged.
    `mean` streams them into its running sum, the coordinate-wise methods go block by block;
    only geomedian and (multi)krum, which need whole rows, hold all P models."""
    own_hash, own_arrays = own
    used: list[str] = []
    bad: list[tuple[str, str]] = []
    inputs: list[MergeInput] = []
    weights: list[float] = []
    for c in contributions:
        if c.weight_hash != own_hash and c.weight_hash not in files:
            continue  # not delivered: the caller already recorded why
        try:
            inputs.append(_checked_input(c.weight_hash, own_hash, own_arrays, files, schema))
        except InvalidWeights as exc:
            log.warning("contribution of %s rejected: %s", c.address, exc)
            bad.append((c.address, str(exc)))
            continue
        weights.append(merge_weight(c))
        used.append(c.address)
    if not used:
        raise SwarmError("no valid contribution to merge (every file was refused)")
    if method == "mean":
        merged = _streamed_mean(inputs, weights, schema)
    elif method in COORDINATE_WISE:
        merged = unflatten(_by_column_blocks(inputs, weights, schema, method, params), schema)
    else:
        stack = np.empty((len(inputs), schema.num_elements), dtype=np.float64)
        for row, source in zip(stack, inputs, strict=True):
            flat_row(source.parts(), schema.num_elements, out=row)
        merged = unflatten(get_merge(method)(stack, np.asarray(weights), **params), schema)
    return merged, used, bad


def _checked_input(
    weight_hash: str,
    own_hash: str,
    own_arrays: Arrays,
    files: dict[str, Path],
    schema: WeightSchema,
) -> MergeInput:
    """One contribution, once all of it passed the checks. Our own contribution passes the
    same checks as everybody else's: a node whose model went NaN must leave itself out
    exactly as its peers leave it out. A peer's file is never decoded whole."""
    if weight_hash == own_hash:
        validate(own_arrays, schema)
        return OwnWeights(own_arrays, schema)
    path = files[weight_hash]
    return FileWeights(path, check_weight_file(path, schema))


def _streamed_mean(inputs: list[MergeInput], weights: list[float], schema: WeightSchema) -> Arrays:
    sizes = [spec.num_elements for spec in schema.tensors]
    accumulator = MeanAccumulator(schema.num_elements, segments=sizes)
    for source, weight in zip(inputs, weights, strict=True):
        accumulator.add_parts(source.parts(), weight)
    return unflatten_segments(accumulator.take_segments(), schema)


def _by_column_blocks(
    inputs: list[MergeInput],
    weights: list[float],
    schema: WeightSchema,
    method: str,
    params: dict[str, object],
) -> np.ndarray:
    """The method applied to each block of coordinates in turn: the same bytes as on the
    whole stack, because each coordinate's result depends on that coordinate alone."""
    merge = get_merge(method)
    size = schema.num_elements
    merged = np.empty(size, dtype=np.float64)
    block = np.empty((len(inputs), min(size, COLUMN_BLOCK)), dtype=np.float64)
    weight_array = np.asarray(weights)
    for start in range(0, size, COLUMN_BLOCK):
        stop = min(size, start + COLUMN_BLOCK)
        rows = block[:, : stop - start]
        for row, source in zip(rows, inputs, strict=True):
            source.read_range(start, stop, row)
        merged[start:stop] = merge(rows, weight_array, **params)
    return merged
