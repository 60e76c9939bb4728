"""The contract's live-learner counts, kept incrementally, agree with their definition.

The contract no longer walks its nodes to count the learners a step waits for: it keeps, per
step, how many unfinished learners were last seen there and how many participants finished
(docs/ARCHITECTURE.md, "The contract's state machine"). The definition is what the walk
computed: here it is evaluated in Python, over a model of a seeded random run (check-ins, late
rejoins, enrolments mid-training, finishes, closes) that is itself checked against the chain's
node records after every step, and compared after every transaction with `liveLearners`,
`effectiveQuorum`, `stepStatus` and whether the step closed.

Grace period 0, so that once a learner has finished, the wait for a live learner that is not
in is over as soon as the step's first check-in is in (both branches of the definition run).
One embedded chain for the module: the counting is the contract's, the same on every chain.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from chain_helpers import ZERO_HASH, ChainEndpoint, DeployedSwarm, deploy_swarm, h, run_chain

from swarm_network.chain.records import NodeRecord

SEEDS = (1,)
STEPS = 8
LEARNERS = 6
MIN_PEERS = 2


@pytest.fixture(scope="module")
def endpoint() -> Iterator[ChainEndpoint]:
    with run_chain("embedded") as chain:
        yield chain


@dataclass
class Learner:
    """What the definition reads of a learner, as this test drives it."""

    enrolled_at: int
    last_step: int | None = None
    finished: bool = False


@dataclass
class Model:
    """The run as the test drives it: every learner, and the participants of each step. It is
    checked against the chain's node records at the end of every step."""

    learners: dict[str, Learner] = field(default_factory=dict)
    participants: dict[int, set[str]] = field(default_factory=dict)

    def finished_count(self) -> int:
        return sum(learner.finished for learner in self.learners.values())

    def awaited(self, address: str, step: int) -> bool:
        """The rule the walk applied to one node (grace 0: once a learner has finished, a
        step's wait for the live learners that are not in is over at its first check-in)."""
        n = self.learners[address]
        participants = self.participants.get(step, set())
        live = not n.finished and (
            (n.last_step is not None and n.last_step + 1 >= step) or n.enrolled_at + 1 >= step
        )
        if not live or self.finished_count() == 0 or address in participants:
            return live
        return not participants

    def live(self, step: int) -> int:
        return sum(self.awaited(a, step) for a in self.learners)

    def quorum(self, step: int) -> int:
        return MIN_PEERS if self.finished_count() == 0 else max(1, min(MIN_PEERS, self.live(step)))

    def all_in(self, step: int) -> bool:
        participants = self.participants.get(step, set())
        return all(a in participants for a in self.learners if self.awaited(a, step))

    def matches(self, nodes: list[NodeRecord]) -> None:
        on_chain = {
            n.address: Learner(n.enrolled_at_step, n.last_step, n.finished)
            for n in nodes
            if n.role == "learner"
        }
        assert on_chain == self.learners


def check_counts(swarm: DeployedSwarm, model: Model, current: int) -> None:
    """stepStatus of the open step (`current`) and the next one, liveLearners and
    effectiveQuorum, against the definition."""
    for step in (current, current + 1):
        status = swarm.admin.step_status(step)
        assert status.open_step == current
        assert (status.live, status.quorum) == (model.live(step), model.quorum(step)), step
    assert swarm.admin.live_learners(current) == model.live(current)
    assert swarm.admin.effective_quorum() == model.quorum(current)


def check_in(swarm: DeployedSwarm, model: Model, learner: int, step: int) -> bool:
    """Check in, then compare: the close rule (the quorum is in, every awaited learner is in
    and the previous merge is agreed: in this run every participant reports it), a closed
    step's figure (the definition as the chain stood when it closed), and the counts.
    True when the check-in closed the step."""
    base = ZERO_HASH if step == 0 else h(f"merged-{step - 1}")
    swarm.check_in(learner, step=step, base=base)
    address = swarm.learners[learner].account.address
    model.learners[address].last_step = step
    model.participants.setdefault(step, set()).add(address)
    record = swarm.admin.step(step)
    assert set(record.participants) == model.participants[step]
    agreed_before = step == 0 or swarm.admin.step(step - 1).agreed_hash is not None
    quorum_in = len(record.participants) >= model.quorum(step)
    expect_closed = quorum_in and model.all_in(step) and agreed_before
    assert record.closed == expect_closed, f"step {step} after learner {learner}'s check-in"
    if record.closed:
        assert swarm.admin.live_learners(step) == model.live(step), f"closed step {step}"
    check_counts(swarm, model, step + 1 if record.closed else step)
    return record.closed


@pytest.mark.parametrize("seed", SEEDS)
def test_live_counts_follow_the_definition_through_a_random_run(
    endpoint: ChainEndpoint, seed: int
) -> None:
    rng = random.Random(seed)
    swarm = deploy_swarm(endpoint, learners=LEARNERS)
    swarm.configure(min_peers=MIN_PEERS, grace_seconds=0)
    model = Model(learners={c.account.address: Learner(0) for c in swarm.learners})
    check_counts(swarm, model, 0)
    for step in range(STEPS):
        if rng.random() < 0.3:  # a learner joins mid-training
            newcomer = swarm.funded_account()
            swarm.admin.enroll(newcomer.account.address, "learner", "http://newcomer")
            swarm.learners.append(newcomer)
            model.learners[newcomer.account.address] = Learner(step)
            check_counts(swarm, model, step)
        previous = model.participants.get(step - 1, set())
        addresses = [c.account.address for c in swarm.learners]
        active = [i for i, a in enumerate(addresses) if not model.learners[a].finished]
        chosen = [i for i in active if rng.random() < 0.7]
        closed = False
        # Participants of the previous step go first (a check-in doubles as the report); the
        # others report with reportMerge; so its merge is agreed before a learner that missed
        # it checks in from it.
        for i in [i for i in chosen if addresses[i] in previous]:
            closed = closed or check_in(swarm, model, i, step)
        for i, address in enumerate(addresses):
            if address in previous and address not in model.participants.get(step, set()):
                swarm.learners[i].report_merge(step - 1, h(f"merged-{step - 1}"))
        for i in [i for i in chosen if addresses[i] not in previous]:
            closed = closed or check_in(swarm, model, i, step)
        if step >= STEPS // 2 and rng.random() < 0.5:  # one stops for good
            quitter = rng.choice(active)
            swarm.learners[quitter].finish()
            model.learners[addresses[quitter]].finished = True
            check_counts(swarm, model, step + 1 if closed else step)
        if not closed:
            if len(model.participants.get(step, ())) < model.quorum(step):
                break  # nobody left to close it: the run ends here
            swarm.admin.close_step(step)  # grace 0: allowed as soon as the quorum is in
            assert swarm.admin.live_learners(step) == model.live(step), f"closed step {step}"
            check_counts(swarm, model, step + 1)
        model.matches(swarm.admin.nodes())
    assert swarm.admin.current_step() >= STEPS // 2, "the run closed too few steps to test much"
