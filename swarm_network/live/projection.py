"""The contract's records rebuilt from its events alone, so that following the chain costs a
`eth_getLogs` per round instead of re-reading every record (docs/ARCHITECTURE.md).

Every field the REST API shows is carried by an event of `SwarmLearning.sol`: a node's role,
file URL and enrolment step (NodeEnrolled, FileUrlChanged), its last and rejoined steps
(CheckedIn, NodeRejoined), its finish (NodeFinished); a step's participants in check-in order
with their commitments (CheckedIn), its quorum and close times (QuorumReached, StepClosed; a
step opens when the one before closes), each merge report with its refusals (MergeReported)
and the agreed merge (MergeAgreed); the training's end (TrainingFinished, the contract's
`trainingEnded`). Pure: no I/O, so it is tested on hand-made events too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from swarm_network.chain.logs import ContractEvent
from swarm_network.chain.records import (
    ROLE_NAMES,
    Contribution,
    NodeRecord,
    StepRecord,
    TrainingConfig,
)

NOT_CONFIGURED = TrainingConfig(
    configured=False,
    min_peers=0,
    grace_seconds=0,
    max_staleness=0,
    merge_method="",
    merge_params="",
)


@dataclass
class StepFacts:
    opened_at: int
    closed: bool = False
    quorum_at: int | None = None
    closed_at: int | None = None
    agreed_hash: str | None = None
    contributions: dict[str, Contribution] = field(default_factory=dict)  # check-in order


class ChainProjection:
    def __init__(self) -> None:
        self.nodes: dict[str, NodeRecord] = {}  # enrolment order
        self.steps: dict[int, StepFacts] = {}
        self.config = NOT_CONFIGURED
        self.current_step = 0
        #: the step that was open when the training ended (it never ran); None while it runs
        self.ended_at_step: int | None = None

    def apply(self, event: ContractEvent, block_time: int) -> set[int]:
        """Apply one event (in chain order); returns the steps whose record it changed."""
        a = event.args
        if event.name == "NodeEnrolled":
            if not self.steps:  # the sentinel, enrolled by the constructor: step 0 opens
                self.steps[0] = StepFacts(opened_at=block_time)
            self.nodes[a["node"]] = NodeRecord(
                address=a["node"],
                role=ROLE_NAMES.get(int(a["role"]), "unknown"),
                file_url=a["fileUrl"],
                enrolled_at_step=int(a["atStep"]),
                last_step=None,
                finished=False,
            )
        elif event.name == "FileUrlChanged":
            self._node(a["node"], file_url=a["fileUrl"])
        elif event.name == "TrainingConfigured":
            self.config = TrainingConfig(
                configured=True,
                min_peers=int(a["minPeers"]),
                grace_seconds=int(a["graceSeconds"]),
                max_staleness=int(a["maxStaleness"]),
                merge_method=a["mergeMethod"],
                merge_params=a["mergeParams"],
            )
        elif event.name == "CheckedIn":
            step = int(a["step"])
            self._step(step).contributions[a["node"]] = Contribution(
                address=a["node"],
                weight_hash=a["weightHash"],
                base_hash=a["baseHash"],
                weightage=int(a["weightage"]),
                merged_hash=None,
                staleness=int(a["staleness"]),
            )
            self._node(a["node"], last_step=step)
            return {step}
        elif event.name == "NodeRejoined":
            self._node(a["node"], rejoined_at_step=int(a["step"]))
        elif event.name == "QuorumReached":
            self._step(int(a["step"])).quorum_at = int(a["at"])
            return {int(a["step"])}
        elif event.name == "StepClosed":
            step, at = int(a["step"]), int(a["at"])
            facts = self._step(step)
            facts.closed, facts.closed_at = True, at
            self.current_step = step + 1
            self.steps.setdefault(step + 1, StepFacts(opened_at=at))
            return {step, step + 1}
        elif event.name == "MergeReported":
            step = int(a["step"])
            contributions = self._step(step).contributions
            contributions[a["node"]] = replace(
                contributions[a["node"]],
                merged_hash=a["mergedHash"],
                rejected_mask=int(a["rejectedMask"]),
            )
            return {step}
        elif event.name == "MergeAgreed":
            self._step(int(a["step"])).agreed_hash = a["mergedHash"]
            return {int(a["step"])}
        elif event.name == "NodeFinished":
            self._node(a["node"], finished=True)
        elif event.name == "TrainingFinished":
            self.ended_at_step = int(a["openStep"])
        return set()

    def _node(self, address: str, **changes: object) -> None:
        self.nodes[address] = replace(self.nodes[address], **changes)  # type: ignore[arg-type]

    def _step(self, step: int) -> StepFacts:
        if step not in self.steps:
            self.steps[step] = StepFacts(opened_at=0)
        return self.steps[step]

    # ------------------------------------------------------------------ records

    def node_records(self) -> list[NodeRecord]:
        return list(self.nodes.values())

    def step_entry(self, step: int) -> tuple[StepRecord, list[Contribution]] | None:
        facts = self.steps.get(step)
        if facts is None:
            return None
        record = StepRecord(
            step=step,
            closed=facts.closed,
            opened_at=facts.opened_at,
            quorum_at=facts.quorum_at,
            closed_at=facts.closed_at,
            agreed_hash=facts.agreed_hash,
            participants=tuple(facts.contributions),
        )
        return record, list(facts.contributions.values())

    @property
    def training_ended(self) -> bool:
        return self.ended_at_step is not None

    @property
    def learner_count(self) -> int:
        return sum(n.role == "learner" for n in self.nodes.values())

    @property
    def finished_count(self) -> int:
        return sum(n.role == "learner" and n.finished for n in self.nodes.values())
