"""A learner that is behind gets back in step during its check-in, by itself, on the real
embedded chain: a late joiner adopts the agreed model; a slow learner offers its work to the
open step as late work, which every node merges with a smaller weight."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from round_swarm import (
    Chain,
    Learner,
    arrays_of,
    make_learners,
    run_rounds,
    running_chain,
    serve_and_run,
    stop,
)

from swarm_learning.round_result import RoundResult


@pytest.fixture
def chain() -> Iterator[Chain]:
    yield from running_chain()


def report(learner: Learner, merged: dict[str, np.ndarray], result: RoundResult) -> None:
    """What a learner that stops after `result` does: report its merge and serve the model."""
    learner.rounds.contract.report_merge(result.step, result.merged_hash, result.refused_mask)
    learner.serve(merged)


def test_a_late_joiner_adopts_the_agreed_model_and_checks_in_to_the_open_step(
    chain: Chain, tmp_path: Path
) -> None:
    a, b, late = learners = make_learners(chain, tmp_path, 3, min_peers=2)
    try:
        a.serve(arrays_of(1.0))
        b.serve(arrays_of(3.0))
        (merged_a, result_a), (merged_b, result_b) = run_rounds(
            [a, b], [arrays_of(1.0), arrays_of(3.0)]
        )
        report(a, merged_a, result_a)
        report(b, merged_b, result_b)
        # The late joiner starts at step 0 with its own model; step 0 is closed already.
        (_, next_a), (merged_late, result_late) = run_rounds(
            [a, late], [merged_a, arrays_of(7.0)], [result_a, None]
        )
    finally:
        stop(learners)
    contract = a.rounds.contract
    agreed = contract.step(0).agreed_hash
    assert agreed == result_a.merged_hash
    assert (result_late.step, result_late.caught_up, next_a.caught_up) == (1, True, False)
    assert set(result_late.participants) == {a.address, late.address}
    (joined,) = [c for c in contract.contributions(1) if c.address == late.address]
    assert (joined.base_hash, joined.staleness) == (agreed, 0)  # it started from the agreed model
    assert result_late.merged_hash == next_a.merged_hash
    np.testing.assert_array_equal(merged_late["w"], arrays_of(2.0)["w"])  # its 7.0 is gone


def test_a_slow_learner_offers_its_work_as_late_work(chain: Chain, tmp_path: Path) -> None:
    a, b, slow = learners = make_learners(chain, tmp_path, 3, min_peers=2, max_staleness=1)
    try:
        first = [arrays_of(1.0), arrays_of(2.0), arrays_of(3.0)]
        step0 = serve_and_run(learners, first)
        # Step 1 goes on without the slow learner.
        a.serve(arrays_of(4.0))
        b.serve(arrays_of(6.0))
        (_, a1), (merged_b1, b1) = run_rounds(
            [a, b], [arrays_of(4.0), arrays_of(6.0)], [step0[0][1], step0[1][1]]
        )
        report(b, merged_b1, b1)
        # The slow learner finishes its step-1 work now, while step 2 is open.
        a.serve(arrays_of(8.0))
        slow.serve(arrays_of(10.0))
        (_, a2), (merged_slow, slow2) = run_rounds(
            [a, slow], [arrays_of(8.0), arrays_of(10.0)], [a1, step0[2][1]]
        )
    finally:
        stop(learners)
    contract = a.rounds.contract
    (late,) = [c for c in contract.contributions(2) if c.address == slow.address]
    assert (late.staleness, late.base_hash) == (1, contract.step(0).agreed_hash)
    assert (slow2.step, slow2.caught_up, a2.caught_up) == (2, True, False)
    assert set(slow2.merged_from) == {a.address, slow.address}
    assert slow2.merged_hash == a2.merged_hash
    # weight 1 for a's 8.0, 1 / (1 + 1) for the late 10.0
    expected = np.float32((8.0 * 1 + 10.0 * 0.5) / 1.5)
    np.testing.assert_array_equal(merged_slow["w"], np.full((2, 3), expected, np.float32))
