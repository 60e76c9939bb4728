"""A sync round against bad contributions, on the real embedded chain and real HTTP file
servers (two learners in threads of this process): a tampered file is refused and never
merged; a NaN model is left out by every node alike, so they still agree."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
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
from swarm_network.files.server import BackgroundServer, create_file_app
from swarm_network.files.store import FileStore


@dataclass
class Learner:
    rounds: RoundContext
    served: FileStore  # what this learner's file server hands out to peers
    server: BackgroundServer


@dataclass
class Chain:
    url: str
    admin: SwarmContract  # the sentinel's client: enrols and funds the learners


@pytest.fixture
def chain() -> Iterator[Chain]:
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


def _arrays(value: float) -> dict[str, np.ndarray]:
    return {"w": np.full((2, 3), value, dtype=np.float32), "b": np.full(3, value, np.float32)}


def _learners(chain: Chain, tmp_path: Path, count: int) -> list[Learner]:
    admin = chain.admin
    schema = WeightSchema.from_arrays(_arrays(0.0))
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
                min_peers=count, grace_seconds=0, merge_method="mean", merge_params="{}"
            )
        settings = LearnerSettings.resolve({"node_dir": tmp_path / f"l{i}"}, environ={})
        merge = choose_merge("mean", {})
        rounds = RoundContext(
            contract=contract,
            store=own,
            settings=settings,
            schema=schema,
            training=Training(
                merge=merge,
                grace_seconds=0,
                max_staleness=0,
                weightage=settings.weightage(merge),
            ),
            peers=PeerFiles(contract=contract, store=own, timeout_s=settings.peer_timeout_s),
        )
        learners.append(Learner(rounds=rounds, served=served, server=server))
    return learners


def _run_step(
    learners: list[Learner], arrays: list[dict], previous: list[RoundResult] | None = None
) -> list[tuple[dict, RoundResult]]:
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
    return results


def _serve_honestly(learner: Learner, arrays: dict) -> str:
    data = encode_weights(arrays)
    return learner.served.put_bytes(data)


def test_a_tampered_file_is_refused_and_not_merged(chain: Chain, tmp_path: Path) -> None:
    a, b = learners = _learners(chain, tmp_path, 2)
    try:
        ours, theirs = _arrays(1.0), _arrays(3.0)
        _serve_honestly(a, ours)
        # b commits to its real weights but its server hands out other bytes under that name.
        committed = _serve_honestly(b, theirs)
        b.served.path(committed).write_bytes(encode_weights(_arrays(1000.0)))
        (merged_a, result_a), (merged_b, result_b) = _run_step(learners, [ours, theirs])
    finally:
        for learner in learners:
            learner.server.stop()
    b_address = b.rounds.address
    assert [address for address, _ in result_a.refused] == [b_address]
    assert "hash" in result_a.refused[0][1].lower()
    assert result_a.merged_from == (a.rounds.address,)
    np.testing.assert_array_equal(merged_a["w"], ours["w"])  # the tampered bytes never merged
    assert not a.rounds.store.has(committed)  # and never stored under the committed name
    # b fetched a's honest file and merged both.
    assert result_b.refused == ()
    np.testing.assert_array_equal(merged_b["w"], _arrays(2.0)["w"])


def test_a_nan_model_is_left_out_by_every_node(chain: Chain, tmp_path: Path) -> None:
    learners = _learners(chain, tmp_path, 3)
    try:
        inputs = [_arrays(1.0), _arrays(2.0), _arrays(5.0)]
        inputs[2]["w"][0, 0] = np.nan
        for learner, arrays in zip(learners, inputs, strict=True):
            _serve_honestly(learner, arrays)
        results = _run_step(learners, inputs)
        # The next round reports this one with its check-in, from the result it is given.
        _run_step(learners, [merged for merged, _ in results], [r for _, r in results])
    finally:
        for learner in learners:
            learner.server.stop()
    (merged_hash,) = {result.merged_hash for _, result in results}  # everyone agrees
    contract = learners[0].rounds.contract
    on_chain = [c.address for c in contract.contributions(0)]
    nan_bit = 1 << on_chain.index(learners[2].rounds.address)
    for merged, result in results:
        assert [address for address, _ in result.refused] == [learners[2].rounds.address]
        assert "finite" in result.refused[0][1].lower() or "nan" in result.refused[0][1].lower()
        assert result.refused_mask == nan_bit
        np.testing.assert_array_equal(merged["w"], _arrays(1.5)["w"])
    for reported in contract.contributions(0):
        assert (reported.merged_hash, reported.rejected_mask) == (merged_hash, nan_bit)
    assert contract.step(0).agreed_hash == merged_hash
