"""End to end, dropout: a learner killed mid-training, the others go on; it comes back with
the same identity and catches up, and a brand-new learner joins mid-training
(tests/churn_scenarios.py runs the swarm)."""

from __future__ import annotations

import statistics

from churn_checks import (
    assert_agreement,
    assert_closed_within_grace,
    assert_first_check_in_on_adopted_model,
    assert_merged_by_everyone,
    log_times_since,
    report,
)
from churn_scenarios import Dropout


def test_dropout_above_quorum_the_others_go_on(dropout: Dropout) -> None:
    run, chain, addr = dropout.run, dropout.chain, dropout.addr
    survivors = {addr[n] for n in "abc"}
    assert all(dropout.exited[n] for n in "abc"), dropout.exited  # nobody hung
    # The step d was killed in, and every step until it came back: the 3 survivors, on chain.
    without_d = range(dropout.kill_step, dropout.restart_step)
    assert len(without_d) >= 3
    for k in without_d:
        assert chain.steps[k].closed and chain.participants(k) == survivors, k
        assert chain.steps[k].agreed_hash is not None, k
    # Once the quorum was in, no step waited for the dead peer (or anyone) beyond the grace.
    delays = assert_closed_within_grace(chain)
    # What the survivors saw: their wait (chain polling, quorum, grace, closing) per step.
    around_kill = range(dropout.kill_step, dropout.kill_step + 3)
    waits = {n: {r["step"]: r["wait_s"] for r in run.rows(n)} for n in "abc"}
    waits_around_kill = [waits[n][k] for n in "abc" for k in around_kill]
    steady = [w for n in "abc" for k, w in waits[n].items() if 0 < k < dropout.kill_step]
    report(
        "dropout",
        kill_step=dropout.kill_step,
        max_survivor_wait_around_kill_s=round(max(waits_around_kill), 2),
        survivor_waits_around_kill_s=[round(w, 2) for w in waits_around_kill],
        median_wait_before_kill_s=round(statistics.median(steady), 2),
        close_after_quorum_s={k: delays[k] for k in around_kill},
        steps=chain.current_step,
        timeline=run.timeline,
    )
    assert_agreement(run, ["a", "b", "c"], chain)


def test_rejoin_with_same_identity_catches_up(dropout: Dropout) -> None:
    run, chain, d = dropout.run, dropout.chain, dropout.addr["d"]
    assert dropout.exited["d-restart"], run.procs["d-restart"].log_tail()
    rows = run.rows("d")  # the same model dir before and after the restart
    before = [r for r in rows if r["step"] < dropout.kill_step]
    after = rows[len(before) :]
    assert before and after
    first = after[0]
    assert first["caught_up"] is True
    # Its first accepted check-in after the restart is on chain, based on the agreed model
    # it fetched.
    r = chain.first_step_of(d, after=dropout.kill_step - 1)
    assert r is not None and r == first["step"] and r >= dropout.restart_step
    contribution = assert_first_check_in_on_adopted_model(run, chain, "d", d, r)
    # The chain and the REST API know it came back.
    assert chain.nodes[d].rejoined_at_step == r
    assert "dropped" in dropout.d_statuses and "rejoined" in dropout.d_statuses
    assert dropout.d_statuses.index("dropped") < dropout.d_statuses.index("rejoined")
    # It takes part in every step after that, and everybody merges its work.
    assert all(d in chain.participants(k) for k in range(r, chain.current_step))
    assert_merged_by_everyone(chain, d, range(r, chain.current_step))
    report(
        "rejoin",
        d_restart_to_first_check_in_s=round(dropout.d_restart_to_check_in_s, 2),
        d_restart_log_s=log_times_since(run, "d", dropout.d_restarted_at),
        d_rejoined_at_step=r,
        d_first_check_in_staleness=contribution.staleness,
        d_statuses=dropout.d_statuses,
    )
    assert_agreement(run, ["a", "b", "c", "d"], chain)


def test_join_mid_training_starts_from_the_agreed_model(dropout: Dropout) -> None:
    run, chain, e = dropout.run, dropout.chain, dropout.addr["e"]
    assert dropout.exited["e"], run.procs["e"].log_tail()
    rows = run.rows("e")
    assert rows and rows[0]["caught_up"] is True
    k = rows[0]["step"]
    assert k > 0 and k == chain.first_step_of(e)
    assert chain.nodes[e].enrolled_at_step >= dropout.restart_step
    contribution = assert_first_check_in_on_adopted_model(run, chain, "e", e, k)
    assert_merged_by_everyone(chain, e, range(k, chain.current_step))
    # Counted in the quorums from then on.
    later = range(k, chain.current_step)
    assert len(later) >= 2
    assert all(e in chain.participants(j) for j in later)
    # d restarted when e started; it may catch up a step or two after e's first (steps take
    # a fraction of a second here), and from then on all five are in every step.
    d = dropout.addr["d"]
    d_back = min(j for j in range(dropout.restart_step, chain.current_step)
                 if d in chain.participants(j))  # fmt: skip
    assert all(len(chain.participants(j)) == 5 for j in later if j > max(k, d_back))
    assert any(j > max(k, d_back) for j in later)
    report(
        "join",
        e_joined_at_step=k,
        e_first_check_in_staleness=contribution.staleness,
        e_start_to_first_check_in_s=round(dropout.e_start_to_check_in_s, 2),
    )
    assert_agreement(run, ["a", "b", "c", "d", "e"], chain)


# ------------------------------------------------------------------------------------ pause
