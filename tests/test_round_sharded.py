"""Sharded merge (docs/ARCHITECTURE.md, "Sharded merge"), with real learners (threads) on the
real embedded chain and real HTTP file servers: the model a sharded swarm agrees on is, byte
for byte, the one the same swarm agrees on unsharded; each learner downloads about
2(P-1)/P of a model per step instead of P-1 models; a merger that publishes wrong shards is
found out (two mergers per shard) or outvoted (three), and one that dies is replaced by the
others' fallback, and the step ends with the right model either way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from round_swarm import Chain, running_chain
from shard_swarm import (
    check_in_and_die,
    in_threads,
    lying_round,
    make_learners,
    model_arrays,
    run_rounds,
    stop,
)

from swarm_learning.round import run_round
from swarm_learning.weights import WeightSchema, encode_weights
from swarm_network.chain.sharding import Sharding

P = 4
SCHEMA = WeightSchema.from_arrays(model_arrays(0))
#: Coordinates of the model whose bytes are counted: a file per shard carries a header of its
#: own, about 100 bytes a tensor, which a model of a few thousand coordinates would feel.
BIG = 200_000


@pytest.fixture
def chain() -> Iterator[Chain]:
    yield from running_chain()


def two_steps(
    chain: Chain, tmp_path: Path, sharding: Sharding | None, method: str, params: str
) -> list[list]:
    """Two steps of P learners from seeded models; each step's (merged, result) per learner."""
    learners = make_learners(
        chain, tmp_path, P, schema=SCHEMA, sharding=sharding, method=method, params=params
    )
    try:
        step0 = run_rounds(learners, [model_arrays(10 + i) for i in range(P)], [None] * P)
        trained = [
            {k: np.asarray(v * 0.5 + i, dtype=v.dtype) for k, v in merged.items()}
            for i, (merged, _) in enumerate(step0)
        ]
        step1 = run_rounds(learners, trained, [result for _, result in step0])
        return [step0, step1]
    finally:
        stop(learners)


@pytest.mark.parametrize(
    ("method", "params"),
    [("mean", "{}"), ("coordmedian", "{}"), ("trimmedmean", '{"beta": 0.25}')],
)
def test_a_sharded_swarm_agrees_on_the_same_bytes_as_an_unsharded_one(
    tmp_path: Path, method: str, params: str
) -> None:
    hashes = {}
    for name, sharding in (("whole", None), ("sharded", Sharding(shards=7, replication=1))):
        gen = running_chain()
        try:
            steps = two_steps(next(gen), tmp_path / name, sharding, method, params)
        finally:
            gen.close()
        for step in steps:
            assert len({result.merged_hash for _, result in step}) == 1
            assert all(len(result.merged_from) == P for _, result in step)
        hashes[name] = [step[0][1].merged_hash for step in steps]
        if sharding is not None:
            merged = steps[-1][0][0]
            assert encode_weights(merged) and all(
                merged[k].dtype == v.dtype for k, v in model_arrays(0).items()
            )
    assert hashes["sharded"] == hashes["whole"]


def test_each_learner_downloads_about_two_models_not_p_minus_one(
    chain: Chain, tmp_path: Path
) -> None:
    big = WeightSchema.from_arrays(model_arrays(0, size=BIG))
    learners = make_learners(
        chain, tmp_path, P, schema=big, sharding=Sharding(shards=16 * P, replication=1)
    )
    try:
        start = [model_arrays(20 + i, size=BIG) for i in range(P)]
        results = run_rounds(learners, start, [None] * P)
    finally:
        stop(learners)
    size = len(encode_weights(start[0]))
    bound = 1.1 * 2 * (P - 1) / P * size
    fetched = [result.fetched_bytes for _, result in results]
    assert all(0 < f <= bound for f in fetched), (fetched, bound)
    assert len({result.merged_hash for _, result in results}) == 1


@pytest.mark.parametrize("replication", [2, 3])
def test_a_merger_that_publishes_wrong_shards_is_caught_and_the_step_ends_right(
    tmp_path: Path, replication: int
) -> None:
    start = [model_arrays(30 + i) for i in range(P)]
    sharding = Sharding(shards=8, replication=replication)
    gen = running_chain()
    chain = next(gen)
    learners = make_learners(
        chain, tmp_path / "attacked", P, schema=SCHEMA, sharding=sharding,
        overrides={"shard_timeout_s": 20.0},
    )  # fmt: skip
    try:
        *honest, liar = learners
        out = in_threads(
            [(lambda i=i: run_round(honest[i].rounds, start[i], None)) for i in range(P - 1)]
            + [lambda: lying_round(liar, start[P - 1], sharding)]
        )
    finally:
        stop(learners)
        gen.close()
    *honest_results, lies = out
    assert lies, "the liar merged no shard: nothing was tested"
    # The right model: the same swarm, unsharded.
    gen = running_chain()
    chain = next(gen)
    whole = make_learners(chain, tmp_path / "whole", P, schema=SCHEMA, sharding=None)
    try:
        reference = run_rounds(whole, start, [None] * P)[0][1].merged_hash
    finally:
        stop(whole)
        gen.close()
    assert {result.merged_hash for _, result in honest_results} == {reference}
    named = {fault for _, result in honest_results for fault in result.shard_faults}
    assert all(liar.address in fault for fault in named)
    shards_named = {int(fault.split()[1].rstrip(":")) for fault in named}
    if replication == 2:
        # Two mergers: nobody can take a shard before both published, so every lie is seen.
        assert shards_named == set(lies)
    else:
        # Three: the two honest mergers may be a majority before the lie is published; a
        # lie seen is named.
        assert shards_named <= set(lies)


def test_a_dead_merger_is_replaced_and_the_step_ends(tmp_path: Path) -> None:
    start = [model_arrays(40 + i) for i in range(P)]
    sharding = Sharding(shards=8, replication=1)
    gen = running_chain()
    chain = next(gen)
    learners = make_learners(
        chain, tmp_path / "dead", P, schema=SCHEMA, sharding=sharding,
        overrides={"shard_timeout_s": 3.0},
    )  # fmt: skip
    try:
        *alive, dead = learners
        check_in_and_die(dead, start[P - 1], sharding)
        results = in_threads(
            [(lambda i=i: run_round(alive[i].rounds, start[i], None)) for i in range(P - 1)]
        )
    finally:
        stop(learners)
        gen.close()
    # The right model: the three that lived, unsharded.
    gen = running_chain()
    chain = next(gen)
    whole = make_learners(chain, tmp_path / "whole", P - 1, schema=SCHEMA, sharding=None)
    try:
        reference = run_rounds(whole, start[: P - 1], [None] * (P - 1))[0][1].merged_hash
    finally:
        stop(whole)
        gen.close()
    assert {result.merged_hash for _, result in results} == {reference}
    for _, result in results:
        assert dead.address in {address for address, _ in result.refused}
        assert len(result.merged_from) == P - 1
