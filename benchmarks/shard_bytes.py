"""Per-node bytes downloaded per sync step, with and without the sharded merge
(docs/ARCHITECTURE.md, "Sharded merge"), and the step's time, for P learners and models of a
given size. Learners are threads of this process on the embedded chain, each with its own
HTTP file server on loopback: what is counted is the bytes of peers' files each learner
downloaded (`RoundResult.fetched_bytes`: contributions or their shard slices, manifests and
merged shards), against the bound 2(P-1)/P x S of an all-reduce (S: one model's file).

Usage: python benchmarks/shard_bytes.py [--learners 4 8] [--params 1000000 10000000]
[--replication 1] [--steps 2]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from eth_account import Account

from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.rpc_server import create_rpc_app
from swarm_learning.merge import choose_merge
from swarm_learning.peer_files import PeerFiles
from swarm_learning.round import run_round
from swarm_learning.round_context import RoundContext
from swarm_learning.round_result import RoundResult
from swarm_learning.settings import LearnerSettings
from swarm_learning.sharding.plan import default_sharding
from swarm_learning.training import Training
from swarm_learning.weights import WeightSchema, encode_weights
from swarm_network.chain import SwarmContract, connect
from swarm_network.chain.sharding import Sharding, configure_sharded_training
from swarm_network.files.fetch import Fetcher
from swarm_network.files.server import BackgroundServer, create_file_app
from swarm_network.files.store import FileStore
from swarm_network.text_table import table

Arrays = dict[str, np.ndarray]


def model(params: int, seed: int) -> Arrays:
    """A float32 model of `params` coordinates in four tensors of unequal sizes."""
    rng = np.random.default_rng(seed)
    sizes = [params // 2, params // 4, params // 8]
    sizes.append(params - sum(sizes))
    return {f"layer{i}": rng.normal(size=n).astype(np.float32) for i, n in enumerate(sizes)}


@contextmanager
def swarm(
    work: Path, learners: int, schema: WeightSchema, sharding: Sharding | None
) -> Iterator[list[RoundContext]]:
    admin = Account.create()
    rpc = BackgroundServer(
        create_rpc_app(EmbeddedChain(funded_accounts={admin.address: 10**24}))
    ).start()
    servers: list[BackgroundServer] = []
    contexts: list[RoundContext] = []
    try:
        chief = SwarmContract.deploy(
            w3=connect(rpc.url), account=admin, sentinel_file_url="http://127.0.0.1:1"
        )
        for i in range(learners):
            account = Account.from_key(hashlib.sha256(f"learner {i}".encode()).digest())
            store = FileStore(work / f"l{i}")
            servers.append(BackgroundServer(create_file_app(store)).start())
            chief.enroll(account.address, "learner", servers[-1].url)
            chief.send_value(account.address, 10**20)
            contract = SwarmContract(w3=connect(rpc.url), address=chief.address, account=account)
            if i == 0:
                config = {"min_peers": learners, "grace_seconds": 0, "merge_method": "mean",
                          "merge_params": "{}"}  # fmt: skip
                if sharding is None:
                    contract.configure_training(**config)  # type: ignore[arg-type]
                else:
                    configure_sharded_training(contract, sharding=sharding, **config)  # type: ignore[arg-type]
            settings = LearnerSettings.resolve({"node_dir": work / f"l{i}"}, environ={})
            merge = choose_merge("mean", {})
            contexts.append(
                RoundContext(
                    contract=contract,
                    store=store,
                    settings=settings,
                    schema=schema,
                    training=Training(merge, 0, 0, 1, sharding),
                    peers=PeerFiles(
                        contract=contract,
                        fetcher=Fetcher(store, timeout_s=300.0),
                        schema=schema,
                    ),
                )
            )
        yield contexts
    finally:
        for ctx in contexts:
            ctx.peers.fetcher.close()
        for server in servers:
            server.stop()
        rpc.stop()


def one_step(
    contexts: list[RoundContext], models: list[Arrays], previous: list[RoundResult | None]
) -> list[tuple[Arrays, RoundResult]]:
    results: list = [None] * len(contexts)

    def run(i: int) -> None:
        results[i] = run_round(contexts[i], models[i], previous[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(contexts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if any(r is None for r in results):
        raise SystemExit("a learner's round failed (see the log above)")
    return results


def measure(
    learners: int, params: int, sharding: Sharding | None, steps: int
) -> tuple[float, float, float, str]:
    """Per-node bytes (max and mean over learners and steps), median step time, final hash."""
    schema = WeightSchema.from_arrays(model(params, 0))
    models = [model(params, 1 + i) for i in range(learners)]
    fetched: list[int] = []
    times: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-shard-") as tmp,
        swarm(Path(tmp), learners, schema, sharding) as contexts,
    ):
        previous: list[RoundResult | None] = [None] * learners
        for _ in range(steps):
            started = time.monotonic()
            out = one_step(contexts, models, previous)
            times.append(time.monotonic() - started)
            fetched += [r.fetched_bytes for _, r in out]
            previous = [r for _, r in out]
            # Local training makes each learner's model its own again (identical files would
            # not be downloaded at all, and the bytes would look smaller than they are).
            models = [
                {k: v * np.float32(0.9) + np.float32(i / 100) for k, v in merged.items()}
                for i, (merged, _) in enumerate(out)
            ]
            final = {r.merged_hash for _, r in out}
            if len(final) != 1:
                raise SystemExit(f"learners disagree: {final}")
    return max(fetched), statistics.mean(fetched), statistics.median(times), final.pop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--params", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--replication", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for params in args.params:
        size = len(encode_weights(model(params, 0)))
        for p in args.learners:
            chosen = default_sharding(p, params)
            if chosen is None:
                print(f"P={p}, {params} params: the default is unsharded; skipped")
                continue
            sharding = Sharding(chosen.shards, args.replication)
            whole = measure(p, params, None, args.steps)
            cut = measure(p, params, sharding, args.steps)
            bound = 2 * (p - 1) / p * size
            for name, (most, mean, step_s, final) in (("whole", whole), ("sharded", cut)):
                rows.append(
                    [
                        f"{params / 1e6:g} M",
                        str(p),
                        name if name == "whole" else f"{sharding.shards}x{sharding.replication}",
                        f"{most / 1e6:.2f}",
                        f"{mean / 1e6:.2f}",
                        f"{most / bound:.3f}",
                        f"{step_s:.2f}",
                        final[:12],
                    ]
                )
            print(f"P={p}, {params} params done", file=sys.stderr)
    print(f"model file S: {size / 1e6:.2f} MB at the last size; bound = 2(P-1)/P x S")
    header = ["model", "P", "merge", "max MB/node", "mean MB/node", "max / bound", "step s",
              "final hash"]  # fmt: skip
    print(table(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
