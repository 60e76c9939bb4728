"""The values one sync round hands to the next: what a round did (`RoundResult`, also the
line of `sync_steps.jsonl`) and what the next check-in says about it (`Standing`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from swarm_network.chain.records import ZERO_HASH


@dataclass(frozen=True)
class RoundResult:
    """What one sync round did; logs, `sync_steps.jsonl` and benchmarks read the same record."""

    step: int
    participants: tuple[str, ...]  # eligible contributions of the step, in address order
    merged_from: tuple[str, ...]  # the participants whose contributions were merged
    refused: tuple[tuple[str, str], ...]  # (address, reason) of contributions left out
    refused_mask: int  # the same, as bits over the step's on-chain contributions
    method: str
    merged_hash: str  # sha256 of the merged model: the base of this learner's next work
    check_in_s: float  # chain: the check-in transaction(s), catching up included
    wait_s: float  # chain: waiting for the quorum / the other learners, and closing
    transfer_s: float  # downloading and verifying peer files
    merge_s: float  # checking, reading and merging the contributions
    caught_up: bool  # this round began by adopting the swarm's model or offering late work
    fetched_bytes: int = 0  # bytes of peers' files this round downloaded
    #: Of `check_in_s`: storing the contribution for the peers (encoding, hashing, writing);
    #: the rest is the chain's.
    publish_s: float = 0.0
    #: A sharded round's mergers that published a wrong shard: "shard k: address published sha"
    shard_faults: tuple[str, ...] = ()

    @property
    def total_s(self) -> float:
        return self.check_in_s + self.wait_s + self.transfer_s + self.merge_s

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "total_s": self.total_s})

    def next_standing(self) -> Standing:
        """The next round checks in for the next step, from this merge, reporting it."""
        return Standing(
            step=self.step + 1, base_hash=self.merged_hash, refused_mask=self.refused_mask
        )


@dataclass(frozen=True)
class Standing:
    """What a learner's check-in says: the step it is for, the model its work started from,
    and which contributions of its last merge it refused (a check-in is also the report of
    the merge of the step before it)."""

    step: int
    base_hash: str
    refused_mask: int

    @classmethod
    def after(cls, previous: RoundResult | None) -> Standing:
        """Where a learner stands after `previous` (None: before its first round)."""
        if previous is None:
            return cls(step=0, base_hash=ZERO_HASH, refused_mask=0)
        return previous.next_standing()
