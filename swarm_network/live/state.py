"""What the live view knows of the chain, and the REST documents made from it.

Filled by the follower from chain events; REST handlers only read it. `apply` returns what
changed in ways a watcher cares about (node status, training state, conflicting merges),
which the follower publishes as live events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from swarm_network.chain.logs import ContractEvent
from swarm_network.chain.records import StepStatus, SwarmSummary
from swarm_network.live.projection import ChainProjection
from swarm_network.rest import views

MAX_RECENT_STEPS = 100


@dataclass
class LiveState:
    chain_id: int | None = None
    projection: ChainProjection = field(default_factory=ChainProjection)
    block_number: int = -1
    effective_quorum: int = 0
    live_learners: int = 0
    #: block timestamp of each node's latest event on chain (lowercase address)
    last_seen: dict[str, int] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.block_number >= 0

    @property
    def current_step(self) -> int:
        return self.projection.current_step

    @property
    def summary(self) -> SwarmSummary:
        p = self.projection
        entry = p.step_entry(p.current_step)
        assert entry is not None
        return SwarmSummary(
            block_number=self.block_number,
            current_step=p.current_step,
            learner_count=p.learner_count,
            finished_count=p.finished_count,
            effective_quorum=self.effective_quorum,
            live_learners=self.live_learners,
            open_step=entry[0],
            config=p.config,
            training_ended=p.training_ended,
        )

    # ------------------------------------------------------------------ updates

    def reset(self) -> None:
        """Forget everything (the chain went back): the next round reads it from the start."""
        self.projection = ChainProjection()
        self.block_number = -1
        self.effective_quorum = self.live_learners = 0
        self.last_seen = {}

    def apply(
        self,
        events: list[ContractEvent],
        times: dict[int, int],
        status: StepStatus,
        head: int,
    ) -> list[tuple[str, dict[str, Any]]]:
        """Apply one round of events and the open step's quorum figures; returns what changed
        that a watcher cares about (node status, training state, conflicting merges)."""
        first = not self.ready
        before_status = {} if first else self._statuses()
        before_state = None if first else views.training_state(self.summary)
        named = {int(e.args["step"]) for e in events if "step" in e.args}
        before_conflicts = {k: self._conflicts(k) for k in named}
        touched: set[int] = set()
        for event in events:
            touched |= self.projection.apply(event, times.get(event.block_number, 0))
        self.effective_quorum, self.live_learners = status.quorum, status.live
        self.block_number = head
        if first:
            return []
        changes: list[tuple[str, dict[str, Any]]] = []
        for address, now in self._statuses().items():
            was = before_status.get(address)
            if was is not None and was != now:
                changes.append(("node_status", {"address": address, "status": now, "was": was}))
        state = views.training_state(self.summary)
        if state != before_state:
            changes.append(("training_state", {"state": state, "was": before_state}))
        for step in sorted(touched):
            conflicts = self._conflicts(step)
            if conflicts and conflicts != before_conflicts.get(step, []):
                changes.append(("conflict", {"step": step, "hashes": conflicts}))
        return changes

    def saw(self, address: str, when: int) -> None:
        key = address.lower()
        self.last_seen[key] = max(self.last_seen.get(key, 0), when)

    def _statuses(self) -> dict[str, str]:
        return {n["address"]: n["status"] for n in self.node_docs()}

    def _conflicts(self, step: int) -> list[str]:
        """The step's merge hashes when participants reported more than one: a real
        disagreement, not a merge whose majority is still coming."""
        entry = self.projection.step_entry(step)
        reported = {c.merged_hash for c in entry[1] if c.merged_hash} if entry else set()
        return sorted(reported) if len(reported) > 1 else []

    # ------------------------------------------------------------------ documents

    def training_doc(self) -> dict[str, Any]:
        return views.training_json(self.summary, self.projection.node_records())

    def node_docs(self) -> list[dict[str, Any]]:
        current = self.current_step
        entry = self.projection.step_entry(current)
        checked_in = set(entry[0].participants) if entry else set()
        return [
            {
                **views.node_json(n, current, checked_in),
                "last_seen": self.last_seen.get(n.address.lower()),
            }
            for n in self.projection.node_records()
        ]

    def nodes_doc(self) -> dict[str, Any]:
        return {"current_step": self.current_step, "nodes": self.node_docs()}

    def node_doc(self, address: str) -> dict[str, Any] | None:
        for doc in self.node_docs():
            if doc["address"].lower() == address.lower():
                return doc
        return None

    def node_role(self, address: str) -> str | None:
        for node in self.projection.node_records():
            if node.address.lower() == address.lower():
                return node.role
        return None

    def step_doc(self, step: int) -> dict[str, Any] | None:
        entry = self.projection.step_entry(step)
        return None if entry is None else views.step_json(*entry)

    def steps_doc(self, limit: int) -> dict[str, Any]:
        current = self.current_step
        first = max(0, current - min(limit, MAX_RECENT_STEPS) + 1)
        steps = [self.step_doc(k) for k in range(current, first - 1, -1)]
        return {"current_step": current, "steps": [s for s in steps if s is not None]}
