"""Learners of one swarm as threads of the test process, on the real embedded chain with real
HTTP file servers: what the sync-round tests run their rounds on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
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
from swarm_learning.training import Training
from swarm_learning.weights import WeightSchema, encode_weights
from swarm_network.chain import SwarmContract, connect
from swarm_network.files.fetch import Fetcher
from swarm_network.files.server import BackgroundServer, create_file_app
from swarm_network.files.store import FileStore

Arrays = dict[str, np.ndarray]


@dataclass
class Learner:
    rounds: RoundContext
    served: FileStore  # what this learner's file server hands out to peers
    server: BackgroundServer
    address: str

    def serve(self, arrays: Arrays) -> str:
        """Offer `arrays` as a weight file to the peers; its sha256."""
        return self.served.put_bytes(encode_weights(arrays))


@dataclass
class Chain:
    url: str
    admin: SwarmContract  # the sentinel's client: enrols and funds the learners


def running_chain() -> Iterator[Chain]:
    admin = Account.create()
    server = BackgroundServer(
        create_rpc_app(EmbeddedChain(funded_accounts={admin.address: 10**24}))
    ).start()
    try:
        contract = SwarmContract.deploy(
            w3=connect(server.url), account=admin, sentinel_file_url="http://127.0.0.1:1"
        )
        yield Chain(url=server.url, admin=contract)
    finally:
        server.stop()


def arrays_of(value: float) -> Arrays:
    return {"w": np.full((2, 3), value, dtype=np.float32), "b": np.full(3, value, np.float32)}


def make_learners(
    chain: Chain,
    tmp_path: Path,
    count: int,
    *,
    min_peers: int,
    max_staleness: int = 0,
    grace_seconds: int = 0,
    overrides: dict[str, object] | None = None,
) -> list[Learner]:
    """`count` enrolled learners of a training merging with `mean` (grace period 0 unless
    given); `overrides` are learner settings (e.g. timeouts)."""
    admin = chain.admin
    schema = WeightSchema.from_arrays(arrays_of(0.0))
    learners = []
    for i in range(count):
        account = Account.create()
        own = FileStore(tmp_path / f"l{i}" / "own")
        served = FileStore(tmp_path / f"l{i}" / "served")
        server = BackgroundServer(create_file_app(served)).start()
        admin.enroll(account.address, "learner", server.url)
        admin.send_value(account.address, 10**20)
        contract = SwarmContract(w3=connect(chain.url), address=admin.address, account=account)
        if i == 0:
            contract.configure_training(
                min_peers=min_peers,
                grace_seconds=grace_seconds,
                max_staleness=max_staleness,
                merge_method="mean",
                merge_params="{}",
            )
        settings = LearnerSettings.resolve(
            {"node_dir": tmp_path / f"l{i}", **(overrides or {})}, environ={}
        )
        merge = choose_merge("mean", {})
        rounds = RoundContext(
            contract=contract,
            store=own,
            settings=settings,
            schema=schema,
            training=Training(
                merge=merge,
                grace_seconds=grace_seconds,
                max_staleness=max_staleness,
                weightage=settings.weightage(merge),
            ),
            peers=PeerFiles(
                contract=contract,
                fetcher=Fetcher(own, timeout_s=settings.peer_timeout_s),
                schema=schema,
            ),
        )
        learners.append(
            Learner(rounds=rounds, served=served, server=server, address=account.address)
        )
    return learners


def stop(learners: list[Learner]) -> None:
    for learner in learners:
        learner.server.stop()
        learner.rounds.peers.fetcher.close()


def run_rounds(
    learners: list[Learner], arrays: list[Arrays], previous: list[RoundResult | None] | None = None
) -> list[tuple[Arrays, RoundResult]]:
    """One round of each learner, all at once (each in its own thread)."""
    results: list = [None] * len(learners)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            last = None if previous is None else previous[i]
            results[i] = run_round(learners[i].rounds, arrays[i], last)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(learners))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert all(t is not None for t in results), "a round did not finish in 60 s"
    return results


def serve_and_run(
    learners: list[Learner], arrays: list[Arrays], previous: list[RoundResult | None] | None = None
) -> list[tuple[Arrays, RoundResult]]:
    """Each learner offers its `arrays` to the peers, then all run one round on them."""
    for learner, own in zip(learners, arrays, strict=True):
        learner.serve(own)
    return run_rounds(learners, arrays, previous)
