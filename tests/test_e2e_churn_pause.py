"""End to end, pause: below quorum the swarm waits (training paused) and resumes by itself
when a learner comes back, on a new address (tests/churn_scenarios.py runs the swarm)."""

from __future__ import annotations

from churn_checks import (
    assert_agreement,
    assert_first_check_in_on_adopted_model,
    assert_merged_by_everyone,
    report,
)
from churn_scenarios import Pause


def test_pause_below_quorum_and_resume(pause: Pause) -> None:
    run, chain, addr, k = pause.run, pause.chain, pause.addr, pause.pause_step
    assert pause.paused_docs
    for doc in pause.paused_docs:
        assert doc["state"] == "waiting_for_quorum", doc
        assert doc["current_step"] == k and doc["checked_in"] == 1, doc
        assert doc["effective_quorum"] == 2 and doc["min_peers"] == 2, doc
        # The two killed learners took part in the step before: the swarm still counts them
        # as active, and names them as the ones the step waits for.
        assert set(doc["waiting_for"]) == {addr["b"], addr["c"]}, doc
    assert "waiting for quorum: 1 of 2 checked in (training paused)" in run.sw_log("a")
    # Resumed by itself once b came back: b's check-in completed the quorum of step k, on the
    # agreed model of the step before (settled by a's report alone: b and c died before
    # reporting theirs).
    assert chain.participants(k) == {addr["a"], addr["b"]}
    assert chain.steps[k].closed and chain.steps[k].agreed_hash is not None
    restarted_rows = [r for r in run.rows("b") if r["step"] >= k]
    assert restarted_rows[0]["step"] == k and restarted_rows[0]["caught_up"] is True
    assert_first_check_in_on_adopted_model(run, chain, "b", addr["b"], k)
    report(
        "pause",
        pause_step=k,
        paused_for_s=round(pause.held_s, 1),
        waiting_for=pause.paused_docs[-1]["waiting_for"],
        b_restart_to_check_in_s=round(pause.restart_to_check_in_s, 2),
        b_restart_to_resume_s=round(pause.restart_to_resume_s, 2),
        exited=pause.exited,
        stuck_step=pause.stuck_step,
        timeline=run.timeline,
    )


def test_paused_swarm_finishes_after_a_restart_on_a_new_address(pause: Pause) -> None:
    run, chain, addr, k = pause.run, pause.chain, pause.addr, pause.pause_step
    # b came back on a new port, and the chain has its new file URL.
    assert chain.nodes[addr["b"]].file_url != pause.b_first_url
    # a fetches b's work at that new address: nobody leaves b out of a merge.
    assert_merged_by_everyone(chain, addr["b"], range(k, chain.current_step + 1))
    assert pause.stuck_step is None, f"step {pause.stuck_step} tied: never agreed"
    assert pause.exited == {"a": True, "b-restart": True}, run.procs["a"].log_tail()
    assert_agreement(run, ["a", "b"], chain)


# ------------------------------------------------------------------------------------- slow

FAST_DELAY_S = 0.5  # 4 batches: 2 s of training per step
SLOW_DELAY_S = 3 * FAST_DELAY_S
SLOW_STEPS = 6  # steps with the slow learner before the training is ended
