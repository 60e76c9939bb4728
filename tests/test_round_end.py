"""The end of a training, decided on chain for everyone (docs/ARCHITECTURE.md, "The end of the
training"), with real learners (threads) on the real embedded chain: a learner one step behind
the others, with another learner dead mid-training, ends alone without waiting for a quorum
that cannot come; every learner alive at the end, whatever the order in which it got there,
and one that comes back after the end, holds the same final model."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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

from swarm_learning.finishing import finish_training
from swarm_learning.round import run_round
from swarm_learning.round_result import RoundResult

Arrays = dict[str, np.ndarray]

# Bounded, so that a learner waiting for a quorum that cannot come fails the test instead of
# hanging it.
SETTINGS = {"quorum_timeout_s": 20.0, "final_timeout_s": 30.0, "archive_wait_s": 0.0}
END_TIMEOUT_S = 60


@pytest.fixture
def chain() -> Iterator[Chain]:
    yield from running_chain()


def trained(arrays: Arrays, delta: float) -> Arrays:
    """What a step of local training makes of `arrays` (any change will do)."""
    return {name: value + np.float32(delta) for name, value in arrays.items()}


def round_of(learner: Learner, arrays: Arrays, previous: RoundResult) -> tuple[Arrays, RoundResult]:
    learner.serve(arrays)
    merged, result = run_round(learner.rounds, arrays, previous)
    learner.serve(merged)
    return merged, result


@pytest.mark.parametrize("first_to_the_end", ["finished", "late"])
def test_a_late_learner_alone_at_the_end_ends_on_the_same_model(
    chain: Chain, tmp_path: Path, first_to_the_end: str
) -> None:
    a, dead, late = learners = make_learners(chain, tmp_path, 3, min_peers=2, overrides=SETTINGS)
    try:
        start = [arrays_of(1.0), arrays_of(2.0), arrays_of(4.0)]
        step0 = serve_and_run(learners, start)
        for learner, (merged, _) in zip(learners, step0, strict=True):
            learner.serve(merged)
        # `dead` is killed after step 0 and never comes back. Step 1: a and late.
        step1_in = [trained(step0[0][0], 1.0), trained(step0[2][0], 2.0)]
        a.serve(step1_in[0])
        late.serve(step1_in[1])
        (merged_a, result_a), (merged_late, result_late) = run_rounds(
            [a, late], step1_in, [step0[0][1], step0[2][1]]
        )
        a.serve(merged_a)
        late.serve(merged_late)
        assert (result_a.step, result_late.step) == (1, 1)
        assert result_a.merged_hash == result_late.merged_hash

        # a is done after step 1; late, one step behind in its own count, runs step 2.
        with ThreadPoolExecutor(max_workers=2) as pool:
            if first_to_the_end == "late":
                late_round = pool.submit(round_of, late, trained(merged_late, 3.0), result_late)
                time.sleep(1.0)  # late is in step 2, waiting, when a finishes
                a_end = pool.submit(finish_training, a.rounds, merged_a, result_a)
            else:
                a_end = pool.submit(finish_training, a.rounds, merged_a, result_a)
                time.sleep(1.0)  # a has finished and waits for the end
                late_round = pool.submit(round_of, late, trained(merged_late, 3.0), result_late)
            merged_2, result_2 = late_round.result(timeout=END_TIMEOUT_S)
            late_end = pool.submit(finish_training, late.rounds, merged_2, result_2)
            final_late, hash_late = late_end.result(timeout=END_TIMEOUT_S)
            final_a, hash_a = a_end.result(timeout=END_TIMEOUT_S)

        assert result_2.step == 2 and result_2.participants == (late.address,)
        final = chain.admin.final_model()
        assert (final.ended, final.step, final.model_hash) == (True, 2, result_2.merged_hash)
        assert hash_a == hash_late == final.model_hash
        for name in final_late:
            np.testing.assert_array_equal(final_a[name], final_late[name])

        # The dead learner comes back after the end: no step runs; it takes the final model.
        dead.serve(trained(step0[1][0], 5.0))
        back, back_result = run_round(dead.rounds, trained(step0[1][0], 5.0), step0[1][1])
        assert (back_result.step, back_result.merged_hash) == (2, final.model_hash)
        np.testing.assert_array_equal(back["w"], final_late["w"])
    finally:
        stop(learners)
