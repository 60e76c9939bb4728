"""End to end, a slow learner: the others wait for it at most the grace period, its late work
is merged with its staleness, and it ends on the same model (tests/churn_scenarios.py runs the
swarm)."""

from __future__ import annotations

import statistics

from churn_checks import assert_agreement, assert_closed_within_grace, report
from churn_helpers import GRACE_S, MARGIN_S
from churn_scenarios import Slow


def test_slow_node_costs_at_most_the_grace_period(slow: Slow) -> None:
    run, chain, addr = slow.run, slow.chain, slow.addr
    assert slow.exited == {"a": True, "b": True, "slow": True}, run.procs["slow"].log_tail()
    # The fast learners never wait for the slow one beyond the grace period: on chain, every
    # step closed within the grace period after its quorum; in their own record, their median
    # wait is below it (plus the margin).
    delays = assert_closed_within_grace(chain)
    fast_waits = [r["wait_s"] for n in "ab" for r in run.rows(n) if r["step"] > 0]
    assert statistics.median(fast_waits) < GRACE_S + MARGIN_S, fast_waits
    # Its late work is merged, with its staleness on chain, rather than thrown away.
    stale = [
        (k, c)
        for k in sorted(chain.contributions)
        for c in chain.contributions[k]
        if c.address == addr["slow"] and c.staleness > 0
    ]
    assert stale, "the slow learner's work was never offered late"

    def merged_by_all(k: int) -> bool:
        rows = [r for n in ("a", "b", "slow") for r in run.rows(n) if r["step"] == k]
        return bool(rows) and all(addr["slow"] in r["merged_from"] for r in rows)

    assert any(merged_by_all(k) for k, _ in stale), stale
    # Every step closed with at least the two fast learners; the slow one took part in some.
    slow_steps = [k for k in range(1, slow.last_step) if addr["slow"] in chain.participants(k)]
    assert slow_steps
    fast_total = [r["total_s"] for n in "ab" for r in run.rows(n) if r["step"] > 0]
    # What the slow learner costs the fast ones per step: the wait in steps it was late for
    # (closed without it, after the grace period) against the steps it was already in for.
    fast_rows = [r for n in "ab" for r in run.rows(n) if r["step"] > 0]
    late_for = [r["wait_s"] for r in fast_rows if r["step"] not in slow_steps]
    in_time = [r["wait_s"] for r in fast_rows if r["step"] in slow_steps]
    report(
        "slow",
        fast_median_wait_s=round(statistics.median(fast_waits), 2),
        fast_mean_wait_s=round(statistics.mean(fast_waits), 2),
        fast_max_wait_s=round(max(fast_waits), 2),
        close_after_quorum_s=delays,
        mean_close_after_quorum_s=round(statistics.mean(delays.values()), 2),
        fast_wait_when_slow_late_s=round(statistics.mean(late_for), 2) if late_for else None,
        fast_wait_when_slow_in_s=round(statistics.mean(in_time), 2) if in_time else None,
        fast_mean_sync_s=round(statistics.mean(fast_total), 2),
        stale_steps={k: c.staleness for k, c in stale},
        slow_took_part_in=slow_steps,
        last_step=slow.last_step,
        final_hashes={n: (run.result(n) or {}).get("final_model_hash") for n in ("a", "b", "slow")},
    )
    # The fast learners end on the same model: the agreed merge of the training's last step.
    assert_agreement(run, ["a", "b"], chain, last_step=slow.last_step)


def test_a_learner_late_for_the_last_step_ends_on_the_same_model(slow: Slow) -> None:
    run, chain = slow.run, slow.chain
    assert slow.exited == {"a": True, "b": True, "slow": True}, run.procs["slow"].log_tail()
    assert_agreement(run, ["a", "b", "slow"], chain)


# ----------------------------------------------------------------------------------- vanish
