"""A split merge report does not hold the swarm: two learners that report different merges of
a step, with the third participant silent (its link was cut while the others fetched), still
close the next step once its grace period is over, and that close settles the split step by
its reports. Seen in the separate-hosts test: both survivors waited for the close forever."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from chain_helpers import h
from round_swarm import (
    Chain,
    arrays_of,
    make_learners,
    run_rounds,
    running_chain,
    serve_and_run,
    stop,
)

GRACE_S = 2


@pytest.fixture
def chain() -> Iterator[Chain]:
    yield from running_chain()


def test_survivors_with_split_reports_close_the_next_step_after_the_grace(
    chain: Chain, tmp_path: Path
) -> None:
    a, b, silent = learners = make_learners(chain, tmp_path, 3, min_peers=2, grace_seconds=GRACE_S)
    try:
        first = [arrays_of(1.0), arrays_of(2.0), arrays_of(3.0)]
        (merged_a, a0), (merged_b, b0), _ = serve_and_run(learners, first)
        # a reports another merge of step 0 than b (as when it could not fetch a file b had);
        # the third participant never reports.
        split = dataclasses.replace(a0, merged_hash=h("a's merge without the silent file"))
        a.serve(merged_a)
        b.serve(merged_b)
        (_, a1), (_, b1) = run_rounds([a, b], [merged_a, merged_b], [split, b0])
    finally:
        stop(learners)
    contract = a.rounds.contract
    assert contract.step(0).agreed_hash in (split.merged_hash, b0.merged_hash)
    assert contract.step(1).closed and (a1.step, b1.step) == (1, 1)
    assert silent.address not in a1.participants
