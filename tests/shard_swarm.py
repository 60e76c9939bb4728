"""Learners of a sharded (or, for comparison, unsharded) training as threads of the test
process, on the real embedded chain with real HTTP file servers: each learner serves the very
store its rounds write into, as a learner node does. Also the adversaries of the sharded
merge tests: a merger that publishes wrong shards, and one that dies after its check-in."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from eth_account import Account
from round_swarm import Chain

from swarm_learning.check_in import check_in
from swarm_learning.eligibility import eligible_contributions
from swarm_learning.merge import choose_merge
from swarm_learning.peer_files import PeerFiles
from swarm_learning.round import run_round
from swarm_learning.round_context import RoundContext
from swarm_learning.round_result import RoundResult, Standing
from swarm_learning.settings import LearnerSettings
from swarm_learning.sharding.manifest import MergedManifest, MergedShard
from swarm_learning.sharding.plan import ShardPlan, assign_mergers
from swarm_learning.sharding.round import step_sources
from swarm_learning.sharding.shard_merge import merge_shard, publish_contribution
from swarm_learning.training import Training
from swarm_learning.waiting import wait_closed
from swarm_learning.weights import WeightSchema, encode_weights
from swarm_network.chain import SwarmContract, connect
from swarm_network.chain.sharding import (
    Sharding,
    configure_sharded_training,
    report_shards,
    training_sharding,
)
from swarm_network.files.fetch import Fetcher
from swarm_network.files.server import BackgroundServer, create_file_app
from swarm_network.files.store import FileStore

Arrays = dict[str, np.ndarray]
ROUND_TIMEOUT_S = 90


def model_arrays(seed: int, size: int = 5000) -> Arrays:
    """A small model with tensors of several dtypes and shapes, so that shards cut across
    tensors of different types."""
    rng = np.random.default_rng(seed)
    return {
        "a.weight": rng.normal(size=(size // 50, 40)).astype(np.float32),
        "b.bias": rng.normal(size=size // 5).astype(np.float64),
        "c.half": rng.normal(size=(10, size // 100)).astype(np.float16),
        "d.count": np.array(seed * 10, dtype=np.int64),
    }


@dataclass
class Learner:
    rounds: RoundContext
    server: BackgroundServer
    address: str


def make_learners(
    chain: Chain,
    tmp_path: Path,
    count: int,
    *,
    schema: WeightSchema,
    sharding: Sharding | None,
    method: str = "mean",
    params: str = "{}",
    overrides: dict[str, object] | None = None,
) -> list[Learner]:
    """`count` enrolled learners of one training (quorum: all of them, no grace period).
    Their keys are fixed, so that two swarms merge in the same (address) order and can be
    compared byte for byte."""
    learners = []
    for i in range(count):
        account = Account.from_key(hashlib.sha256(f"learner {i}".encode()).digest())
        store = FileStore(tmp_path / f"l{i}" / "files")
        server = BackgroundServer(create_file_app(store)).start()
        chain.admin.enroll(account.address, "learner", server.url)
        chain.admin.send_value(account.address, 10**20)
        contract = SwarmContract(
            w3=connect(chain.url), address=chain.admin.address, account=account
        )
        if i == 0:
            training = {
                "min_peers": count,
                "grace_seconds": 0,
                "merge_method": method,
                "merge_params": params,
            }
            if sharding is None:
                contract.configure_training(**training)  # type: ignore[arg-type]
            else:
                configure_sharded_training(contract, sharding=sharding, **training)  # type: ignore[arg-type]
        settings = LearnerSettings.resolve(
            {"node_dir": tmp_path / f"l{i}", **(overrides or {})}, environ={}
        )
        merge = choose_merge(method, params)
        rounds = RoundContext(
            contract=contract,
            store=store,
            settings=settings,
            schema=schema,
            training=Training(
                merge=merge,
                grace_seconds=0,
                max_staleness=0,
                weightage=settings.weightage(merge),
                sharding=training_sharding(contract),
            ),
            peers=PeerFiles(
                contract=contract,
                fetcher=Fetcher(store, timeout_s=settings.peer_timeout_s),
                schema=schema,
            ),
        )
        learners.append(Learner(rounds=rounds, server=server, address=account.address))
    return learners


def stop(learners: list[Learner]) -> None:
    for learner in learners:
        learner.server.stop()
        learner.rounds.peers.fetcher.close()


def in_threads(jobs: list[Callable[[], object]]) -> list:
    """Run each job in its own thread; their results, or the test fails with their errors."""
    results: list = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = jobs[i]()
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=ROUND_TIMEOUT_S)
    assert not errors, errors
    assert all(not t.is_alive() for t in threads), f"a round took over {ROUND_TIMEOUT_S} s"
    return results


def run_rounds(
    learners: list[Learner], arrays: list[Arrays], previous: list[RoundResult | None]
) -> list[tuple[Arrays, RoundResult]]:
    return in_threads(
        [
            (lambda i=i: run_round(learners[i].rounds, arrays[i], previous[i]))
            for i in range(len(learners))
        ]
    )


def lying_round(learner: Learner, arrays: Arrays, sharding: Sharding) -> list[int]:
    """Step 0 of a merger that lies: it follows the protocol (a valid check-in, its shards
    merged and reported on chain) but every shard it publishes is its true merge plus one.
    The shards it lied about."""
    ctx = learner.rounds
    plan = ShardPlan(ctx.schema, sharding.shards)
    checked = check_in(
        ctx,
        arrays,
        Standing.after(None),
        publish=lambda a: publish_contribution(ctx.store, a, plan),
    )
    wait_closed(ctx, 0, since_block=checked.block, own_hash=checked.weight_hash)
    eligible = eligible_contributions(ctx.contract.contributions(0), "0" * 64)
    sources, _ = step_sources(ctx, plan, eligible, checked.weight_hash)
    mergers = assign_mergers(0, [c.address for c in eligible], plan.count, sharding.replication)
    lies = {}
    for shard, names in enumerate(mergers):
        if learner.address not in names:
            continue
        true = merge_shard(
            plan=plan,
            shard=shard,
            sources=sources,
            own=(checked.weight_hash, checked.arrays),
            choice=ctx.training.merge,
            fetcher=ctx.peers.fetcher,
            store=ctx.store,
        )
        wrong = {
            name: np.asarray(value + 1, dtype=value.dtype) for name, value in true.arrays.items()
        }
        sha = ctx.store.put_bytes(encode_weights(wrong))
        lies[shard] = MergedShard(sha=sha, merged_from=true.entry.merged_from, refused=())
    root = ctx.store.put_bytes(MergedManifest(step=0, shards=lies).to_bytes())
    report_shards(ctx.contract, 0, root)
    return sorted(lies)


def check_in_and_die(learner: Learner, arrays: Arrays, sharding: Sharding) -> None:
    """A learner that checks in for step 0 and dies at once: its file server goes with it."""
    ctx = learner.rounds
    plan = ShardPlan(ctx.schema, sharding.shards)
    check_in(
        ctx,
        arrays,
        Standing.after(None),
        publish=lambda a: publish_contribution(ctx.store, a, plan),
    )
    learner.server.stop()
