"""The SwarmLearning contract's sync-step rules, over JSON-RPC on two chains: the embedded
chain and anvil (the `chain_endpoint` fixture runs every test on both).

One chain server for the module; a fresh contract (and fresh learner keys) per test, so that
no test sees another's state. Everything goes through `SwarmContract`, the client the nodes use.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from chain_helpers import ZERO_HASH as ZERO
from chain_helpers import DeployedSwarm, h
from contract_helpers import Refusal, refused, votes_for
from eth_account import Account
from web3 import Web3

from swarm_network.chain import SwarmContract
from swarm_network.chain import transactions as client_module
from swarm_network.errors import TrainingEnded

N_LEARNERS = 4


@pytest.fixture
def swarm(swarm_factory: Callable[..., DeployedSwarm]) -> DeployedSwarm:
    """A fresh contract with N_LEARNERS enrolled, funded learners; training not configured."""
    return swarm_factory(learners=N_LEARNERS)


# ---------------------------------------------------------------------------------- membership


def test_fixture_state(swarm: DeployedSwarm) -> None:
    nodes = swarm.admin.nodes()
    assert [n.role for n in nodes] == ["network"] + ["learner"] * N_LEARNERS
    assert nodes[0].address == swarm.admin.account.address
    assert [n.file_url for n in nodes[1:]] == [f"http://learner-{i}" for i in range(N_LEARNERS)]
    assert all(n.enrolled_at_step == 0 and n.last_step is None for n in nodes)
    summary = swarm.admin.summary()
    assert summary.learner_count == N_LEARNERS
    assert summary.current_step == 0
    assert not summary.config.configured


def test_not_enrolled_is_refused(swarm: DeployedSwarm) -> None:
    swarm.configure(min_peers=2, grace_seconds=0)
    outsider = swarm.funded_account()
    with refused(Refusal.NOT_A_LEARNER):
        outsider.check_in(step=0, weight_hash=h("w"), weightage=1, base_hash=ZERO)
    with refused(Refusal.NOT_A_LEARNER):
        outsider.finish()
    with refused(Refusal.NOT_ENROLLED):
        outsider.close_step(0)
    with refused(Refusal.NOT_ENROLLED):
        outsider.set_file_url("http://evil")
    # The sentinel is enrolled, but as a network node: it may not contribute weights.
    with refused(Refusal.NOT_A_LEARNER):
        swarm.admin.check_in(step=0, weight_hash=h("w"), weightage=1, base_hash=ZERO)
    assert swarm.admin.step(0).participants == ()


def test_only_the_sentinel_may_enroll(swarm: DeployedSwarm) -> None:
    newcomer = Account.create().address
    with refused(Refusal.ONLY_SENTINEL):
        swarm.learners[0].enroll(newcomer, "learner", "http://newcomer")
    with refused(Refusal.ONLY_SENTINEL):
        swarm.funded_account().enroll(newcomer, "learner", "http://newcomer")
    assert swarm.admin.node(newcomer).role == "none"

    swarm.admin.enroll(newcomer, "learner", "http://newcomer")
    assert swarm.admin.node(newcomer).role == "learner"
    with refused(Refusal.ALREADY_ENROLLED):
        swarm.admin.enroll(newcomer, "network", "http://again")
    assert swarm.admin.summary().learner_count == N_LEARNERS + 1


def test_only_the_sentinel_records_named_trainings_once_each(swarm: DeployedSwarm) -> None:
    elsewhere = Account.create().address
    assert swarm.admin.named_trainings() == {} and swarm.admin.training_of("alpha") is None
    with refused(Refusal.ONLY_SENTINEL):
        swarm.learners[0].add_training("alpha", elsewhere)
    with refused(Refusal.ZERO_ADDRESS):
        swarm.admin.add_training("alpha", "0x" + "00" * 20)
    swarm.admin.add_training("alpha", elsewhere)
    with refused(Refusal.TRAINING_NAME_TAKEN):
        swarm.admin.add_training("alpha", swarm.admin.address)
    swarm.admin.add_training("beta", swarm.admin.address)
    assert swarm.admin.training_of("alpha") == elsewhere
    assert swarm.admin.named_trainings() == {"alpha": elsewhere, "beta": swarm.admin.address}


def test_configure_once(swarm: DeployedSwarm) -> None:
    with refused(Refusal.NOT_A_LEARNER):
        swarm.admin.configure_training(
            min_peers=2, grace_seconds=5, merge_method="fedavg", merge_params=""
        )
    with refused(Refusal.MIN_PEERS_ZERO):
        swarm.learners[0].configure_training(
            min_peers=0, grace_seconds=5, merge_method="fedavg", merge_params=""
        )
    with refused(Refusal.NO_MERGE_METHOD):
        swarm.learners[0].configure_training(
            min_peers=2, grace_seconds=5, merge_method="", merge_params=""
        )
    swarm.learners[0].configure_training(
        min_peers=2, grace_seconds=5, merge_method="fedavg", merge_params='{"x": 1}'
    )
    with refused(Refusal.ALREADY_CONFIGURED):
        swarm.learners[1].configure_training(
            min_peers=3, grace_seconds=9, merge_method="median", merge_params=""
        )
    config = swarm.admin.training_config()
    assert config.configured
    assert (config.min_peers, config.grace_seconds) == (2, 5)
    assert (config.merge_method, config.merge_params) == ("fedavg", '{"x": 1}')


def test_check_in_before_configure_is_refused(swarm: DeployedSwarm) -> None:
    with refused(Refusal.NOT_CONFIGURED):
        swarm.check_in(0, step=0)
    assert swarm.admin.step(0).participants == ()


# ------------------------------------------------------------------------------ check-in rules


def test_check_in_argument_rules(swarm: DeployedSwarm) -> None:
    swarm.configure(min_peers=2, grace_seconds=0)
    learner = swarm.learners[0]
    with refused(Refusal.STEP_NOT_OPEN):
        swarm.check_in(0, step=1)
    with refused(Refusal.ZERO_WEIGHT_HASH):
        learner.check_in(step=0, weight_hash=ZERO, weightage=1, base_hash=ZERO)
    with refused(Refusal.ZERO_WEIGHTAGE):
        learner.check_in(step=0, weight_hash=h("w"), weightage=0, base_hash=ZERO)
    assert swarm.admin.step(0).participants == ()


def test_step_zero_with_a_base_is_stale(swarm: DeployedSwarm) -> None:
    swarm.configure(min_peers=2, grace_seconds=0)
    with refused(Refusal.STALE_BASE):
        swarm.check_in(0, step=0, base=h("some merged model"))
    swarm.check_in(0, step=0, base=ZERO)
    assert swarm.admin.step(0).participants == (swarm.learners[0].account.address,)


def test_double_check_in_is_refused(swarm: DeployedSwarm) -> None:
    swarm.configure(min_peers=3, grace_seconds=0)
    swarm.check_in(0, step=0)
    with refused(Refusal.ALREADY_CHECKED_IN):
        swarm.learners[0].check_in(step=0, weight_hash=h("other"), weightage=5, base_hash=ZERO)
    (only,) = swarm.admin.contributions(0)
    assert only.weight_hash == h("weights-0-0")
    assert swarm.admin.step_status(0).checked_in == 1


def test_stale_base_at_step_one_is_refused(swarm: DeployedSwarm) -> None:
    swarm.configure(min_peers=3, grace_seconds=0)
    agreed, wrong = h("merged-0"), h("diverged-0")
    for i in range(3):  # learner 3 sits step 0 out
        swarm.check_in(i, step=0)
    swarm.admin.close_step(0)
    assert swarm.admin.current_step() == 1

    # A non-participant of step 0 cannot start step 1 before step 0's merge is agreed.
    with refused(Refusal.MERGE_NOT_AGREED_YET):
        swarm.check_in(3, step=1, base=agreed)

    swarm.check_in(0, step=1, base=agreed)
    swarm.check_in(1, step=1, base=agreed)  # 2 of 3 participants: agreed
    assert swarm.admin.step(0).agreed_hash == agreed

    # A participant whose merge differs from the agreed one is refused, and its report with it.
    with refused(Refusal.NOT_THE_AGREED_BASE):
        swarm.check_in(2, step=1, base=wrong)
    assert votes_for(swarm, 0, wrong) == 0
    assert votes_for(swarm, 0, agreed) == 2
    # A non-participant with the wrong base is refused too; with the agreed one it is in.
    with refused(Refusal.NOT_THE_AGREED_BASE):
        swarm.check_in(3, step=1, base=wrong)
    swarm.check_in(2, step=1, base=agreed)
    swarm.check_in(3, step=1, base=agreed)
    assert {c.base_hash for c in swarm.admin.contributions(1)} == {agreed}


# ----------------------------------------------------------------------------- closing a step


def test_below_quorum_the_step_stays_open(swarm: DeployedSwarm) -> None:
    swarm.configure(min_peers=3, grace_seconds=0)
    swarm.check_in(0, step=0)
    swarm.check_in(1, step=0)
    status = swarm.admin.step_status(0)
    assert (status.open_step, status.closed, status.checked_in) == (0, False, 2)
    assert (status.quorum, status.live, status.quorum_at) == (3, N_LEARNERS, None)
    # Even with no grace period at all, nobody can close a step below quorum.
    with refused(Refusal.QUORUM_NOT_REACHED):
        swarm.admin.close_step(0)
    with refused(Refusal.QUORUM_NOT_REACHED):
        swarm.learners[0].close_step(0)
    assert swarm.admin.current_step() == 0
    assert not swarm.admin.step(0).closed


def test_quorum_then_grace_period(swarm: DeployedSwarm) -> None:
    grace = 3
    swarm.configure(min_peers=3, grace_seconds=grace)
    for i in range(3):
        swarm.check_in(i, step=0)
    quorum_at = swarm.admin.step_status(0).quorum_at
    assert quorum_at is not None
    assert swarm.admin.step(0).quorum_at == quorum_at
    # Quorum is in but learner 3 (live) is not: the grace period runs.
    with refused(Refusal.GRACE_NOT_OVER):
        swarm.admin.close_step(0)
    assert swarm.admin.current_step() == 0

    swarm.next_block_at_least(quorum_at + grace)
    swarm.learners[3].close_step(0)  # anyone enrolled may close it, even a non-participant
    step = swarm.admin.step(0)
    assert step.closed
    assert step.closed_at is not None and step.closed_at >= quorum_at + grace
    assert len(step.participants) == 3
    assert swarm.admin.current_step() == 1
    with refused(Refusal.STEP_NOT_OPEN):
        swarm.admin.close_step(0)


def test_last_live_check_in_closes_the_step(swarm: DeployedSwarm) -> None:
    swarm.configure(min_peers=2, grace_seconds=3600)
    for i in range(N_LEARNERS - 1):
        swarm.check_in(i, step=0)
    status = swarm.admin.step_status(0)
    assert status.quorum_at is not None and not status.closed  # quorum, waiting on grace

    swarm.check_in(N_LEARNERS - 1, step=0)  # the last live learner: no closeStep needed
    step = swarm.admin.step(0)
    assert step.closed
    assert swarm.admin.current_step() == 1
    assert len(step.participants) == N_LEARNERS
    # It closed in that very transaction.
    events = swarm.admin.contract.events
    (closed,) = events.StepClosed().get_logs(from_block=0)
    last_check_in = [
        e
        for e in events.CheckedIn().get_logs(from_block=0)
        if e["args"]["node"] == swarm.learners[-1].account.address
    ]
    assert [e["transactionHash"] for e in last_check_in] == [closed["transactionHash"]]


def test_merge_agreed_by_majority(swarm: DeployedSwarm) -> None:
    swarm.configure(min_peers=3, grace_seconds=0)
    for i in range(3):
        swarm.check_in(i, step=0)
    swarm.admin.close_step(0)
    good, bad = h("merged-0"), h("merged-0-differently")
    a, b, c = swarm.learners[:3]

    with refused(Refusal.STEP_NOT_CLOSED):
        a.report_merge(1, good)
    swarm.check_in(0, step=1, base=good)  # the check-in doubles as the report
    c.report_merge(0, bad)
    assert swarm.admin.step(0).agreed_hash is None  # 1 vote each of 3: no majority yet
    with refused(Refusal.ALREADY_REPORTED):
        c.report_merge(0, good)
    with refused(Refusal.NOT_A_PARTICIPANT):
        swarm.learners[3].report_merge(0, good)
    b.report_merge(0, good)

    assert swarm.admin.step(0).agreed_hash == good
    assert swarm.admin.step_status(0).agreed_hash == good
    merged = {x.address: x.merged_hash for x in swarm.admin.contributions(0)}
    assert merged == {
        a.account.address: good,
        b.account.address: good,
        c.account.address: bad,
    }
    assert votes_for(swarm, 0, good) == 2
    assert votes_for(swarm, 0, bad) == 1
    (agreed_event,) = swarm.admin.contract.events.MergeAgreed().get_logs(from_block=0)
    assert agreed_event["args"]["mergedHash"].hex() == good
    assert agreed_event["args"]["votes"] == 2
    # The dissenter must start step 1 from the agreed model.
    with refused(Refusal.STALE_BASE):
        swarm.check_in(2, step=1, base=bad)
    swarm.check_in(2, step=1, base=good)


def test_an_early_dissenting_check_in_stays_on_record_with_its_stale_base(
    swarm: DeployedSwarm,
) -> None:
    """Before a majority exists, a participant's check-in is its vote; if another hash wins,
    its contribution keeps the stale base on record, and the learners leave it out of the
    merge (a rule on chain data only, so all of them leave out the same one)."""
    swarm.configure(min_peers=3, grace_seconds=0)
    for i in range(3):
        swarm.check_in(i, step=0)
    swarm.admin.close_step(0)
    good, bad = h("merged-0"), h("merged-0-differently")
    # The dissenter happens to check in first, before any majority exists.
    swarm.check_in(2, step=1, base=bad)
    swarm.check_in(0, step=1, base=good)
    swarm.check_in(1, step=1, base=good)
    swarm.admin.close_step(1)
    step0, step1 = swarm.admin.step(0), swarm.admin.step(1)
    assert step0.agreed_hash == good and step1.closed
    bases = {c.address: c.base_hash for c in swarm.admin.contributions(1)}
    assert bases[swarm.learners[2].account.address] == bad
    assert sorted(bases.values()) == sorted([good, good, bad])


def test_finish_lowers_the_effective_quorum(swarm: DeployedSwarm) -> None:
    swarm.configure(min_peers=3, grace_seconds=3600)
    assert swarm.admin.effective_quorum() == 3
    swarm.check_in(0, step=0)
    swarm.check_in(1, step=0)
    assert not swarm.admin.step(0).closed

    swarm.learners[2].finish()
    assert swarm.admin.effective_quorum() == 3  # 3 learners still active
    with refused(Refusal.ALREADY_FINISHED):
        swarm.learners[2].finish()
    with refused(Refusal.FINISHED):
        swarm.check_in(2, step=0)
    assert swarm.admin.node(swarm.learners[2].account.address).finished

    swarm.learners[3].finish()
    summary = swarm.admin.summary()
    assert (summary.effective_quorum, summary.finished_count, summary.live_learners) == (2, 2, 2)
    # The two that are left are all there is: the step closes without waiting for grace.
    swarm.admin.close_step(0)
    assert swarm.admin.current_step() == 1
    assert len(swarm.admin.step(0).participants) == 2


def test_min_peers_above_the_enrolled_learners_waits_for_more(swarm: DeployedSwarm) -> None:
    # Learners that have not enrolled yet do not lower the quorum: everybody waits for them.
    swarm.configure(min_peers=N_LEARNERS + 1, grace_seconds=0)
    assert swarm.admin.effective_quorum() == N_LEARNERS + 1
    for i in range(N_LEARNERS):
        swarm.check_in(i, step=0)
    assert not swarm.admin.step(0).closed
    with refused(Refusal.QUORUM_NOT_REACHED):
        swarm.admin.close_step(0)

    late = swarm.funded_account()
    swarm.admin.enroll(late.account.address, "learner", "http://latecomer")
    late.check_in(step=0, weight_hash=h("late"), weightage=1, base_hash=ZERO)
    assert swarm.admin.step(0).closed  # quorum and every live learner in
    assert len(swarm.admin.step(0).participants) == N_LEARNERS + 1


def test_missing_a_whole_step_leaves_the_live_set(swarm: DeployedSwarm) -> None:
    swarm.configure(min_peers=3, grace_seconds=0)
    merged0, merged1 = h("merged-0"), h("merged-1")
    absent = swarm.learners[3].account.address
    assert swarm.admin.live_learners(0) == N_LEARNERS

    for i in range(3):
        swarm.check_in(i, step=0)
    swarm.admin.close_step(0)
    # Learner 3 enrolled while step 0 was open: still expected at step 1.
    assert swarm.admin.live_learners(1) == N_LEARNERS
    for i in range(3):
        swarm.check_in(i, step=1, base=merged0)
    assert not swarm.admin.step(1).closed  # 3 of 4 live in: grace (0 s) must be claimed
    swarm.admin.close_step(1)

    # Learner 3 missed step 1 entirely: no longer waited for.
    assert swarm.admin.live_learners(2) == 3
    assert swarm.admin.node(absent).last_step is None
    for i in range(3):
        swarm.check_in(i, step=2, base=merged1)
    assert swarm.admin.step(2).closed  # all live learners in: closed by the last check-in
    assert swarm.admin.current_step() == 3

    # Catching up: once step 2's merge is agreed it checks in from it, and is live again.
    swarm.learners[0].report_merge(2, h("merged-2"))
    swarm.learners[1].report_merge(2, h("merged-2"))
    swarm.check_in(3, step=3, base=h("merged-2"))
    assert swarm.admin.node(absent).last_step == 3
    assert swarm.admin.live_learners(4) == 1  # only it has checked in for step 3 so far


def test_catching_up_learner_does_not_close_the_step_for_a_live_one(swarm: DeployedSwarm) -> None:
    grace = 2
    swarm.configure(min_peers=2, grace_seconds=grace)
    for step in (0, 1):  # learner 3 sits steps 0 and 1 out; each closes after the grace period
        for i in range(3):
            swarm.check_in(i, step=step, base=ZERO if step == 0 else h("merged-0"))
        swarm.next_block_at_least(swarm.admin.step(step).quorum_at + grace)
        swarm.admin.close_step(step)
    assert swarm.admin.live_learners(2) == 3  # learners 0, 1, 2

    swarm.check_in(0, step=2, base=h("merged-1"))
    swarm.check_in(1, step=2, base=h("merged-1"))  # quorum; step 1's merge agreed
    swarm.check_in(3, step=2, base=h("merged-1"))  # catching up: not one of the live three
    # Learner 2 is live and has not checked in; the grace period has only just begun.
    assert not swarm.admin.step(2).closed
    assert swarm.admin.live_learners(2) == 4  # the newcomer is expected again
    swarm.check_in(2, step=2, base=h("merged-1"))
    assert swarm.admin.step(2).closed  # now every live learner is in


def test_a_participant_that_finishes_does_not_cut_the_grace_period(swarm: DeployedSwarm) -> None:
    swarm.configure(min_peers=2, grace_seconds=3600)
    for i in range(3):
        swarm.check_in(i, step=0)
    swarm.learners[0].finish()  # it had checked in for step 0, then stops
    assert swarm.admin.live_learners(0) == 3  # learners 1, 2, 3
    # Learner 3 is live, has not checked in, and the hour of grace has just begun.
    with refused(Refusal.GRACE_NOT_OVER):
        swarm.admin.close_step(0)


def test_losing_a_close_step_race_leaves_the_client_usable(
    swarm: DeployedSwarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    swarm.configure(min_peers=2, grace_seconds=0)
    swarm.check_in(0, step=0)
    swarm.check_in(1, step=0)
    winner, loser = swarm.learners[0], swarm.learners[1]
    deliver = client_module._deliver
    raced = []

    def winner_closes_first(w3, signed, timeout_s):
        # The loser's closeStep passed its dry run (the step was open); the winner's lands first.
        if not raced:
            raced.append(True)
            winner.close_step(0)
        return deliver(w3, signed, timeout_s)

    monkeypatch.setattr(client_module, "_deliver", winner_closes_first)
    with refused(Refusal.STEP_NOT_OPEN):
        loser.close_step(0)  # mined, and reverted: the step was closed in between
    assert raced and swarm.admin.current_step() == 1
    loser.set_file_url("http://learner-1-moved")  # its next transaction must go through
    assert swarm.admin.node(loser.account.address).file_url == "http://learner-1-moved"


# --------------------------------------------------------------------------------------- events


def test_events(swarm: DeployedSwarm) -> None:
    swarm.configure(min_peers=2, grace_seconds=0)
    merged = h("merged-0")
    for i in range(N_LEARNERS):
        swarm.check_in(i, step=0, weightage=10 + i)
    for i in range(3):
        swarm.check_in(i, step=1, base=merged)  # 3 of 4 reports: a strict majority

    events = swarm.admin.contract.events
    checked_in = events.CheckedIn().get_logs(from_block=0)
    assert [(e["args"]["step"], e["args"]["node"]) for e in checked_in] == [
        (0, swarm.learners[i].account.address) for i in range(N_LEARNERS)
    ] + [(1, swarm.learners[i].account.address) for i in range(3)]
    first = checked_in[0]["args"]
    assert first["weightHash"].hex() == h("weights-0-0")
    assert first["baseHash"] == bytes(32)
    assert [e["args"]["weightage"] for e in checked_in[:N_LEARNERS]] == [10, 11, 12, 13]
    assert all(e["address"] == swarm.address for e in checked_in)

    (closed,) = events.StepClosed().get_logs(from_block=0)
    assert (closed["args"]["step"], closed["args"]["participants"]) == (0, N_LEARNERS)
    assert closed["args"]["at"] == swarm.admin.step(0).closed_at

    (agreed,) = events.MergeAgreed().get_logs(from_block=0)
    assert agreed["args"]["step"] == 0
    assert agreed["args"]["mergedHash"].hex() == merged
    assert agreed["args"]["votes"] == 3
    assert agreed["transactionHash"] == checked_in[-1]["transactionHash"]

    # Raw eth_getLogs with a topic filter on the indexed step: only step 1's check-ins.
    topic0 = Web3.keccak(text="CheckedIn(uint64,address,bytes32,bytes32,uint64,uint32)")
    raw = swarm.w3.eth.get_logs(
        {
            "fromBlock": 0,
            "toBlock": "latest",
            "address": swarm.address,
            "topics": [topic0, "0x" + (1).to_bytes(32, "big").hex()],
        }
    )
    assert len(raw) == 3
    assert {bytes(log["topics"][2])[-20:] for log in raw} == {
        bytes.fromhex(swarm.learners[i].account.address[2:]) for i in range(3)
    }
    # Another contract on the same chain does not leak into this one's logs.
    assert swarm.w3.eth.get_logs({"fromBlock": 0, "address": swarm.address, "topics": [topic0]})
    other = SwarmContract.deploy(
        w3=swarm.w3, account=swarm.admin.account, sentinel_file_url="http://other"
    )
    assert other.contract.events.CheckedIn().get_logs(from_block=0) == []


# ------------------------------------------------------------- late work, dead voters, rejoins


def _configure_with_staleness(swarm: DeployedSwarm, *, min_peers: int, max_staleness: int) -> None:
    swarm.learners[0].configure_training(
        min_peers=min_peers,
        grace_seconds=0,
        max_staleness=max_staleness,
        merge_method="mean",
        merge_params="{}",
    )


def _run_step(swarm: DeployedSwarm, step: int, members: list[int], base: str, merged: str) -> None:
    """`members` check in for `step` from `base`; the step is closed; they agree on `merged`
    (reported by the next check-in, so here by reportMerge)."""
    for i in members:
        swarm.check_in(i, step=step, base=base)
    if not swarm.admin.step(step).closed:
        swarm.admin.close_step(step)
    for i in members:
        swarm.learners[i].report_merge(step, merged)


def test_late_work_is_accepted_with_its_staleness_up_to_the_limit(swarm: DeployedSwarm) -> None:
    _configure_with_staleness(swarm, min_peers=2, max_staleness=2)
    _run_step(swarm, 0, [0, 1, 2, 3], ZERO, h("m0"))
    _run_step(swarm, 1, [0, 1, 2], h("m0"), h("m1"))  # learner 3 is slow
    _run_step(swarm, 2, [0, 1, 2], h("m1"), h("m2"))
    # Learner 3 finally offers its work built on m0 (agreed at step 0) to step 3: 2 steps late.
    swarm.check_in(0, step=3, base=h("m2"))
    swarm.check_in(3, step=3, base=h("m0"))
    stale = {c.address: c.staleness for c in swarm.admin.contributions(3)}
    assert stale[swarm.learners[3].account.address] == 2
    assert stale[swarm.learners[0].account.address] == 0
    # Three steps late is too late.
    swarm.check_in(1, step=3, base=h("m2"))
    swarm.check_in(2, step=3, base=h("m2"))
    assert swarm.admin.step(3).closed
    for i in range(3):
        swarm.learners[i].report_merge(3, h("m3"))
    with refused(Refusal.STALE_BASE):
        swarm.check_in(3, step=4, base=h("m0"))


def test_dead_participants_do_not_block_the_merge_agreement(swarm: DeployedSwarm) -> None:
    swarm.learners[0].configure_training(
        min_peers=2, grace_seconds=1, merge_method="mean", merge_params="{}"
    )
    for i in range(4):
        swarm.check_in(i, step=0)
    assert swarm.admin.step(0).closed
    # Learners 2 and 3 die before reporting: 2 of 4 votes are no strict majority.
    swarm.check_in(0, step=1, base=h("m0"))
    swarm.check_in(1, step=1, base=h("m0"))
    assert swarm.admin.step(0).agreed_hash is None
    swarm.next_block_at_least(swarm.admin.step(0).closed_at + 1)
    swarm.learners[0].settle_merge(0)  # by the two that reported: 2 of 2
    assert swarm.admin.step(0).agreed_hash == h("m0")


def test_a_tie_among_the_reports_is_settled_by_the_first_reported(swarm: DeployedSwarm) -> None:
    """Two honest learners can merge differently (one missed a file the other got); with
    nobody to break the tie the next step could never close."""
    swarm.learners[0].configure_training(
        min_peers=2, grace_seconds=1, merge_method="mean", merge_params="{}"
    )
    for i in range(4):
        swarm.check_in(i, step=0)
    assert swarm.admin.step(0).closed
    # Learners 2 and 3 die before reporting; 0 and 1 report different merges: 1 vote each.
    swarm.check_in(1, step=1, base=h("m0-of-1"))
    swarm.check_in(0, step=1, base=h("m0-of-0"))
    assert swarm.admin.step(0).agreed_hash is None
    swarm.next_block_at_least(swarm.admin.step(0).closed_at + 1)
    swarm.learners[2].settle_merge(0)
    assert swarm.admin.step(0).agreed_hash == h("m0-of-1")
    # The step that waited for it closes; learner 0's work (built on the losing merge) stays
    # on record with its stale base, for every node to leave out.
    swarm.next_block_at_least(swarm.admin.step(1).quorum_at + 1)
    swarm.admin.close_step(1)
    assert swarm.admin.step(1).closed


def test_rejected_contributions_are_recorded_with_the_report(swarm: DeployedSwarm) -> None:
    swarm.configure(min_peers=2, grace_seconds=0)
    for i in range(3):
        swarm.check_in(i, step=0)
    swarm.admin.close_step(0)
    order = list(swarm.admin.step(0).participants)
    swarm.learners[0].report_merge(0, h("m0"), rejected_mask=0b100)  # left out participant 2
    (c0,) = [c for c in swarm.admin.contributions(0) if c.address == order[0]]
    assert c0.rejected(order) == [order[2]]


def test_a_node_that_missed_steps_is_marked_rejoined(swarm: DeployedSwarm) -> None:
    swarm.configure(min_peers=2, grace_seconds=0)
    _run_step(swarm, 0, [0, 1, 2], ZERO, h("m0"))
    _run_step(swarm, 1, [0, 1], h("m0"), h("m1"))  # learner 2 gone for step 1
    swarm.check_in(2, step=2, base=h("m1"))
    node = swarm.admin.node(swarm.learners[2].account.address)
    assert node.rejoined_at_step == 2
    assert swarm.admin.node(swarm.learners[0].account.address).rejoined_at_step is None


# ------------------------------------------------------------------------ the end of training


def test_a_learner_dead_for_a_step_does_not_hold_the_last_learners_quorum(
    swarm: DeployedSwarm,
) -> None:
    # Learner 2 died mid-training (it missed step 1); learner 3 never came. Learner 0 finishes
    # after step 1: learner 1, one step behind, is alone for step 2 and closes it by itself.
    swarm.configure(min_peers=2, grace_seconds=0)
    _run_step(swarm, 0, [0, 1, 2], ZERO, h("m0"))
    _run_step(swarm, 1, [0, 1], h("m0"), h("m1"))
    swarm.learners[0].finish()
    assert swarm.admin.live_learners(2) == 1
    assert swarm.admin.effective_quorum() == 1  # not min(2, 3 unfinished), dead ones included
    swarm.check_in(1, step=2, base=h("m1"))
    assert swarm.admin.step(2).closed
    assert not swarm.admin.final_model().ended  # learner 1 still has to finish
    swarm.learners[1].report_merge(2, h("m2"))
    swarm.learners[1].finish()
    final = swarm.admin.final_model()
    assert (final.ended, final.open_step, final.step, final.model_hash) == (True, 3, 2, h("m2"))


def test_a_live_learner_that_died_holds_the_quorum_one_grace_period_at_most(
    swarm: DeployedSwarm,
) -> None:
    grace = 2
    swarm.configure(min_peers=2, grace_seconds=grace)
    _run_step(swarm, 0, [0, 1, 2, 3], ZERO, h("m0"))
    swarm.check_in(0, step=1, base=h("m0"))
    swarm.check_in(1, step=1, base=h("m0"))
    swarm.check_in(2, step=1, base=h("m0"))  # and then it dies: it is live at step 2
    swarm.next_block_at_least(swarm.admin.step(1).quorum_at + grace)
    swarm.admin.close_step(1)
    swarm.learners[0].report_merge(1, h("m1"))
    swarm.learners[0].finish()
    swarm.check_in(1, step=2, base=h("m1"))
    first_in = swarm.head_timestamp()
    # Learners 1 and 2 are live and unfinished: the quorum is 2, for one grace period.
    assert swarm.admin.effective_quorum() == 2
    with refused(Refusal.QUORUM_NOT_REACHED):
        swarm.admin.close_step(2)
    swarm.next_block_at_least(first_in + grace)
    # Views read the latest block (anvil, geth): mine one at that time before reading.
    swarm.admin.send_value(swarm.admin.account.address, 0)
    status = swarm.admin.step_status(2)
    assert (status.quorum, status.live) == (1, 1)
    swarm.learners[0].close_step(2)  # a finished learner may close it
    assert swarm.admin.step(2).closed


def test_once_ended_no_step_runs_and_every_caller_gets_one_final_model(
    swarm: DeployedSwarm,
) -> None:
    swarm.configure(min_peers=2, grace_seconds=0)
    for i in range(N_LEARNERS):
        swarm.check_in(i, step=0)
    swarm.check_in(0, step=1, base=h("m0"))  # 2 of 4 report m0: no majority of participants
    swarm.check_in(1, step=1, base=h("m0"))
    swarm.admin.close_step(1)
    # Nobody reports step 1 (both finish without reporting it): the final model is step 0's,
    # decided by its reports (2 of 2).
    swarm.learners[0].finish()
    assert not swarm.admin.final_model().ended  # learner 1 is live at step 2
    swarm.learners[1].finish()
    final = swarm.admin.final_model()
    assert (final.ended, final.open_step, final.step, final.model_hash) == (True, 2, 0, h("m0"))
    # Learners 2 and 3 missed step 1: when they come back, no step runs any more.
    with pytest.raises(TrainingEnded, match=r"the training has ended \(step 2 never ran\)"):
        swarm.check_in(2, step=2, base=h("m0"))
    assert not swarm.admin.step(2).participants
