"""End to end, nothing lost: every learner gone, a brand-new learner catches up from an SN
node's copy of the newest agreed model (tests/churn_scenarios.py runs the swarms).

Nobody finishes these two trainings (the new learner alone is below the quorum, or stuck), so
the agreement check (every learner that finishes holds the same final model, bit for bit) runs
in the other scenarios' tests.
"""

from __future__ import annotations

from churn_checks import report
from churn_helpers import sha256_of
from churn_scenarios import Vanish


def test_nothing_lost_when_learners_vanish_while_paused(vanish_paused: Vanish) -> None:
    run, chain, x = vanish_paused.run, vanish_paused.chain, vanish_paused.addr["x"]
    k, agreed = vanish_paused.open_step, vanish_paused.latest_agreed
    assert agreed is not None
    first = vanish_paused.new_rows[0]
    assert first["caught_up"] is True and first["step"] == k
    contribution = chain.contribution(k, x)
    assert contribution is not None and contribution.base_hash == agreed
    # Every learner that held it was dead: the copy came from an SN node.
    assert f"adopted agreed model {agreed[:12]} of step {k - 1}" in run.sw_log("x")
    assert sha256_of(run.node_dirs["x"] / "files" / agreed) == agreed
    for sn in ("sentinel", "sn1"):
        assert sha256_of(run.work_dir / sn / "files" / agreed) == agreed
    # The dead learners' step files were refused (unreachable), not waited on forever.
    assert {a for a, _ in first["refused"]} == {vanish_paused.addr["a"], vanish_paused.addr["b"]}
    assert first["merged_from"] == [x]
    report("vanish_paused", open_step=k, x_first_sync=first)


def test_nothing_lost_when_learners_vanish_mid_training(vanish_training: Vanish) -> None:
    run, chain, x = vanish_training.run, vanish_training.chain, vanish_training.addr["x"]
    k = vanish_training.open_step
    # When the last learner died, step k-1 was closed and nobody had reported its merge (the
    # fixture checked); the newest agreed model was an earlier step's, and the sentinel had it.
    report(
        "vanish_training",
        open_step=k,
        newest_agreed_step=vanish_training.latest_agreed_step,
        x_rows=len(vanish_training.new_rows),
        x_log_tail=run.sw_log("x").splitlines()[-3:],
    )
    assert vanish_training.new_rows, "x never finished a sync step: stuck catching up"
    first = vanish_training.new_rows[0]
    assert first["caught_up"] is True
    contribution = chain.contribution(first["step"], x)
    assert contribution is not None
    assert contribution.base_hash in {
        vanish_training.latest_agreed,
        chain.steps[first["step"] - 1].agreed_hash,
    }
