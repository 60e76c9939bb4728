"""Which contributions of a closed step are merged, in which order, with what weight. Every
rule reads chain data only, so every node merges the same set in the same order."""

from __future__ import annotations

import logging

from swarm_learning.merge import Contributor
from swarm_network.chain import SwarmContract
from swarm_network.chain.records import ZERO_HASH, Contribution

log = logging.getLogger(__name__)


def merge_weight(contribution: Contribution) -> float:
    """The on-chain staleness rule: late work counts, less the later it is."""
    return float(contribution.weightage) / (1 + contribution.staleness)


def eligible_contributions(contributions: list[Contribution], base: str) -> list[Contribution]:
    """Contributions built on `base` (the previous step's agreed model) or accepted as late
    work by the contract, in address order."""
    eligible = [c for c in contributions if c.base_hash == base or c.staleness > 0]
    for c in contributions:
        if c not in eligible:
            log.warning("%s started from a stale model; not merged", c.address)
    return sorted(eligible, key=lambda c: c.address.lower())


def closed_step_contributions(
    contract: SwarmContract, step: int
) -> tuple[list[Contribution], list[Contribution]]:
    """A closed step's contributions as on chain, and those of them to merge: built on the
    previous step's agreed model (zero for step 0). One round trip for both reads."""
    on_chain, agreed_base = contract.closed_step(step)
    return on_chain, eligible_contributions(on_chain, agreed_base or ZERO_HASH)


def contributors(eligible: list[Contribution]) -> list[Contributor]:
    """The eligible contributions as the merge takes them."""
    return [Contributor(c.address, c.weight_hash, merge_weight(c)) for c in eligible]


def refused_mask(on_chain: list[Contribution], refused: set[str]) -> int:
    """`refused` addresses as bits over the step's contributions in on-chain order: the
    form the contract records with a merge report."""
    return sum(1 << i for i, c in enumerate(on_chain) if c.address in refused)
