"""End to end: a swarm of real processes (sentinel, SN node, three learners training the
digits demo) whose training is sharded (`SWARM_SHARDS`, `SWARM_SHARD_REPLICATION` in the
learners' environment, recorded on chain by the first): every learner ends with the same
model, the chain records the sharding, and every step has the merged-shard roots of its
mergers on chain (docs/ARCHITECTURE.md, "Sharded merge")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from swarm_learning.demo.digits_swarm import TRAIN_MODULE, prepare_learner_data
from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_network.chain import SwarmContract, connect
from swarm_network.chain.sharding import Sharding, shard_roots, training_sharding

LEARNERS = ["learner1", "learner2", "learner3"]
EPOCHS = 4  # 14 batches per epoch, a sync every 32 batches: 3 sync steps
TIMEOUT_S = 240
SHARDING = Sharding(shards=6, replication=2)

#: Process start-up and three steps of three learners took 90 s on this loaded 2-core machine.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished_swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSwarm]:
    work_dir = tmp_path_factory.mktemp("e2e-sharded")
    with LocalSwarm(work_dir=work_dir) as swarm:
        swarm.environment["SWARM_SHARDS"] = str(SHARDING.shards)
        swarm.environment["SWARM_SHARD_REPLICATION"] = str(SHARDING.replication)
        prepare_learner_data(swarm, LEARNERS, seed=0)
        swarm.start_sentinel()
        sn_url = swarm.start_sn()
        program_args = ["--epochs", str(EPOCHS), "--min-peers", "2"]
        learners = [
            swarm.start_learner(
                name, swarm.sentinel_rest if i == 0 else sn_url, TRAIN_MODULE, program_args
            )
            for i, name in enumerate(LEARNERS)
        ]
        if not swarm.wait(learners, TIMEOUT_S):
            tails = "\n".join(f"--- {p.name}:\n{p.log_tail()}" for p in swarm.processes)
            pytest.fail(f"learners did not finish in time\n{tails}")
        for learner in learners:
            assert learner.popen.returncode == 0, f"{learner.name} failed:\n{learner.log_tail()}"
        yield swarm


def _steps(swarm: LocalSwarm, name: str) -> list[dict]:
    path = swarm.learner_dir(name) / "model" / "sync_steps.jsonl"
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_a_sharded_swarm_ends_on_one_model_with_its_shards_on_chain(
    finished_swarm: LocalSwarm,
) -> None:
    swarm = finished_swarm
    results = [
        json.loads((swarm.learner_dir(n) / "model" / "result.json").read_text()) for n in LEARNERS
    ]
    assert len({r["final_model_hash"] for r in results}) == 1
    assert swarm.sentinel_rest
    chain = requests.get(f"{swarm.sentinel_rest}/v1/chain", timeout=10).json()
    contract = SwarmContract(w3=connect(chain["rpc_url"]), address=chain["contract_address"])
    assert training_sharding(contract) == SHARDING
    steps = _steps(swarm, LEARNERS[0])
    assert len(steps) >= 2
    for line in steps:
        if not line["participants"]:
            continue
        roots = shard_roots(contract, line["step"])
        assert set(roots) == set(line["participants"]), line
        assert line["shard_faults"] == []
        assert line["fetched_bytes"] > 0
