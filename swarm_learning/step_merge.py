"""Merging one closed step: which contributions count, with what weight, and the merge
itself. Every rule here reads only chain data and the files' bytes, so every node merges the
same set in the same order and gets the same bytes."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from swarm_learning.merge import MeanAccumulator, get_merge
from swarm_learning.weights import WeightSchema, decode_weights, flatten, unflatten, validate
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
    (address, reason) refused). `mean` streams, holding about two models in memory."""
    own_hash, own_arrays = own
    used: list[str] = []
    bad: list[tuple[str, str]] = []
    rows: list[np.ndarray] = []
    weights: list[float] = []
    accumulator = MeanAccumulator(schema.num_elements) if method == "mean" else None
    for c in contributions:
        if c.weight_hash != own_hash and c.weight_hash not in files:
            continue  # not delivered: the caller already recorded why
        try:
            # Our own contribution passes the same checks as everybody else's: a node whose
            # model went NaN must leave itself out exactly as its peers leave it out.
            if c.weight_hash == own_hash:
                arrays = own_arrays
            else:
                arrays = decode_weights(files[c.weight_hash].read_bytes())
            validate(arrays, schema)
        except InvalidWeights as exc:
            log.warning("contribution of %s rejected: %s", c.address, exc)
            bad.append((c.address, str(exc)))
            continue
        if accumulator is not None:
            accumulator.add_parts((arrays[t.name] for t in schema.tensors), merge_weight(c))
        else:
            rows.append(flatten(arrays, schema))
            weights.append(merge_weight(c))
        del arrays  # a decoded peer model is dropped before the next one is read
        used.append(c.address)
    if not used:
        raise SwarmError("no valid contribution to merge (every file was refused)")
    if accumulator is not None:
        merged = accumulator.result(in_place=True)
    else:
        merged = get_merge(method)(np.stack(rows), np.asarray(weights), **params)
    return unflatten(merged, schema), used, bad
