"""The SwarmLearning contract's refusals as the tests expect them, in one place. Not a test
module.

Every assertion on a revert reason goes through `refused(Refusal.X)` (or reads a constant
here), so that when the contract words its refusals differently, or raises custom errors with
readable reasons, only this table changes.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

import pytest
from chain_helpers import DeployedSwarm

from swarm_network.errors import ContractRevert


class Refusal(StrEnum):
    """What the client's `ContractRevert` says (a part of it) for each refusal."""

    NOT_A_LEARNER = "node is not an enrolled learner"
    NOT_ENROLLED = "node is not enrolled"
    ALREADY_ENROLLED = "node is already enrolled"
    ONLY_SENTINEL = "only the sentinel may do this"
    ZERO_ADDRESS = "zero address"
    MIN_PEERS_ZERO = "min_peers must be at least 1"
    NO_MERGE_METHOD = "merge method is empty"
    ALREADY_CONFIGURED = "training is already configured"
    NOT_CONFIGURED = "training is not configured"
    STEP_NOT_OPEN = "step is not open"
    STEP_NOT_CLOSED = "step is not closed"
    ZERO_WEIGHT_HASH = "weight hash is zero"
    ZERO_WEIGHTAGE = "weightage must be positive"
    ALREADY_CHECKED_IN = "already checked in for this step"
    STALE_BASE = "stale base"
    MERGE_NOT_AGREED_YET = "stale base: previous merge is not agreed yet"
    NOT_THE_AGREED_BASE = "stale base: not the agreed model of the previous step"
    QUORUM_NOT_REACHED = "quorum not reached"
    GRACE_NOT_OVER = "grace period is not over"
    ALREADY_REPORTED = "merge already reported"
    NOT_A_PARTICIPANT = "node did not take part in this step"
    ALREADY_FINISHED = "node has already finished"
    FINISHED = "node has finished training"
    TRAINING_NAME_TAKEN = "a training of that name exists already"


def refused(refusal: Refusal) -> Any:
    """`pytest.raises` for a transaction or call the contract refuses with `refusal`."""
    return pytest.raises(ContractRevert, match=re.escape(refusal.value))


def votes_for(swarm: DeployedSwarm, step: int, merged_hash: str) -> int:
    """The contract's `votesFor` (the client has no wrapper for it)."""
    return swarm.admin.contract.functions.votesFor(step, bytes.fromhex(merged_hash)).call()
