"""A sync round against bad contributions, on the real embedded chain and real HTTP file
servers (learners in threads of this process): a tampered file is refused and never merged;
a NaN model is left out by every node alike, so they still agree, and each reports it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from round_swarm import (
    Chain,
    arrays_of,
    make_learners,
    run_rounds,
    running_chain,
    serve_and_run,
    stop,
)

from swarm_learning.weights import encode_weights


@pytest.fixture
def chain() -> Iterator[Chain]:
    yield from running_chain()


def test_a_tampered_file_is_refused_and_not_merged(chain: Chain, tmp_path: Path) -> None:
    a, b = learners = make_learners(chain, tmp_path, 2, min_peers=2)
    try:
        ours, theirs = arrays_of(1.0), arrays_of(3.0)
        a.serve(ours)
        # b commits to its real weights but its server hands out other bytes under that name.
        committed = b.serve(theirs)
        b.served.path(committed).write_bytes(encode_weights(arrays_of(1000.0)))
        (merged_a, result_a), (merged_b, result_b) = run_rounds(learners, [ours, theirs])
    finally:
        stop(learners)
    b_address = b.address
    assert [address for address, _ in result_a.refused] == [b_address]
    assert "hash" in result_a.refused[0][1].lower()
    assert result_a.merged_from == (a.address,)
    np.testing.assert_array_equal(merged_a["w"], ours["w"])  # the tampered bytes never merged
    assert not a.rounds.store.has(committed)  # and never stored under the committed name
    # b fetched a's honest file and merged both.
    assert result_b.refused == ()
    np.testing.assert_array_equal(merged_b["w"], arrays_of(2.0)["w"])


def test_a_nan_model_is_left_out_by_every_node(chain: Chain, tmp_path: Path) -> None:
    learners = make_learners(chain, tmp_path, 3, min_peers=3)
    try:
        inputs = [arrays_of(1.0), arrays_of(2.0), arrays_of(5.0)]
        inputs[2]["w"][0, 0] = np.nan
        results = serve_and_run(learners, inputs)
        # The next round reports this one with its check-in, from the result it is given.
        run_rounds(learners, [merged for merged, _ in results], [r for _, r in results])
    finally:
        stop(learners)
    (merged_hash,) = {result.merged_hash for _, result in results}  # everyone agrees
    contract = learners[0].rounds.contract
    on_chain = [c.address for c in contract.contributions(0)]
    nan_bit = 1 << on_chain.index(learners[2].address)
    for merged, result in results:
        assert [address for address, _ in result.refused] == [learners[2].address]
        assert "finite" in result.refused[0][1].lower() or "nan" in result.refused[0][1].lower()
        assert result.refused_mask == nan_bit
        np.testing.assert_array_equal(merged["w"], arrays_of(1.5)["w"])
    for reported in contract.contributions(0):
        assert (reported.merged_hash, reported.rejected_mask) == (merged_hash, nan_bit)
    assert contract.step(0).agreed_hash == merged_hash
