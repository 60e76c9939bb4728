"""What the live view knows of the chain, and the REST documents made from it.

Filled by the follower from chain reads; REST handlers only read it. `apply` returns what
changed in ways a watcher cares about (node status, training state, conflicting merges),
which the follower publishes as live events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from swarm_network.chain.records import Contribution, NodeRecord, StepRecord, SwarmSummary
from swarm_network.rest import views

MAX_RECENT_STEPS = 100

StepEntry = tuple[StepRecord, list[Contribution]]


@dataclass(frozen=True)
class ChainSnapshot:
    """One round of chain reads: the summary, every node, and the steps that may have moved."""

    summary: SwarmSummary
    nodes: list[NodeRecord]
    steps: dict[int, StepEntry]


@dataclass
class LiveState:
    chain_id: int | None = None
    summary: SwarmSummary | None = None
    nodes: list[NodeRecord] = field(default_factory=list)
    steps: dict[int, StepEntry] = field(default_factory=dict)
    #: block timestamp of each node's latest event on chain (lowercase address)
    last_seen: dict[str, int] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.summary is not None

    @property
    def current_step(self) -> int:
        return self.summary.current_step if self.summary else 0

    # ------------------------------------------------------------------ updates

    def apply(self, snapshot: ChainSnapshot) -> list[tuple[str, dict[str, Any]]]:
        before_status = self._statuses()
        before_state = views.training_state(self.summary) if self.summary else None
        before_conflicts = {k: _conflicts(e) for k, e in self.steps.items()}
        self.summary = snapshot.summary
        self.nodes = list(snapshot.nodes)
        self.steps.update(snapshot.steps)
        changes: list[tuple[str, dict[str, Any]]] = []
        if before_state is not None:
            for address, status in self._statuses().items():
                previous = before_status.get(address)
                if previous is not None and previous != status:
                    changes.append(
                        ("node_status", {"address": address, "status": status, "was": previous})
                    )
            state = views.training_state(snapshot.summary)
            if state != before_state:
                changes.append(("training_state", {"state": state, "was": before_state}))
            for k, entry in snapshot.steps.items():
                conflicts = _conflicts(entry)
                if conflicts and conflicts != before_conflicts.get(k, []):
                    changes.append(("conflict", {"step": k, "hashes": conflicts}))
        return changes

    def saw(self, address: str, when: int) -> None:
        key = address.lower()
        self.last_seen[key] = max(self.last_seen.get(key, 0), when)

    def _statuses(self) -> dict[str, str]:
        if self.summary is None:
            return {}
        current = self.summary.current_step
        checked_in = set(self.summary.open_step.participants)
        return {n.address: views.node_json(n, current, checked_in)["status"] for n in self.nodes}

    # ------------------------------------------------------------------ documents

    def training_doc(self) -> dict[str, Any]:
        assert self.summary is not None
        return views.training_json(self.summary, self.nodes)

    def node_docs(self) -> list[dict[str, Any]]:
        assert self.summary is not None
        current = self.summary.current_step
        checked_in = set(self.summary.open_step.participants)
        return [
            {
                **views.node_json(n, current, checked_in),
                "last_seen": self.last_seen.get(n.address.lower()),
            }
            for n in self.nodes
        ]

    def nodes_doc(self) -> dict[str, Any]:
        return {"current_step": self.current_step, "nodes": self.node_docs()}

    def node_doc(self, address: str) -> dict[str, Any] | None:
        for doc in self.node_docs():
            if doc["address"].lower() == address.lower():
                return doc
        return None

    def step_doc(self, step: int) -> dict[str, Any] | None:
        entry = self.steps.get(step)
        return None if entry is None else views.step_json(*entry)

    def missing_steps(self, first: int, last: int) -> list[int]:
        return [k for k in range(first, last + 1) if k not in self.steps]

    def steps_doc(self, limit: int) -> dict[str, Any]:
        current = self.current_step
        first = max(0, current - min(limit, MAX_RECENT_STEPS) + 1)
        steps = [
            views.step_json(*self.steps[k])
            for k in range(current, first - 1, -1)
            if k in self.steps
        ]
        return {"current_step": current, "steps": steps}


def _conflicts(entry: StepEntry) -> list[str]:
    return views.step_json(*entry)["conflicting_hashes"]
