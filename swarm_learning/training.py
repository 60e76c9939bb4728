"""The training as the swarm agreed on it (on chain, set by the first learner): what every
sync round of this learner needs to know besides its own settings."""

from __future__ import annotations

from dataclasses import dataclass

from swarm_learning.merge import MergeChoice
from swarm_network.chain.sharding import Sharding


@dataclass(frozen=True)
class Training:
    merge: MergeChoice  # the method and its checked parameters
    grace_seconds: int  # after quorum, how long a step waits for the other live learners
    max_staleness: int  # how many steps late a contribution may be and still be merged
    weightage: int  # what this learner checks in with (`LearnerSettings.weightage`)
    #: How the model is cut for a sharded merge (docs/ARCHITECTURE.md, "Sharded merge");
    #: None: every learner merges whole models.
    sharding: Sharding | None = None
