"""End to end: sentinel + one more SN node + 3 learners as real processes on loopback, training
the digits MLP. Asserts what a user relies on: one final model, the chain's record of every
step, the REST API telling the same story, and a model that learned something."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator

import pytest
import requests
from anvil_node import run_anvil
from chain_helpers import require_anvil

from swarm_learning.demo.data import read_partition
from swarm_learning.demo.digits_swarm import TRAIN_MODULE, prepare_learner_data
from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_network.chain import SwarmContract, connect
from swarm_network.chain.identity import load_or_create_key

LEARNERS = ["learner1", "learner2", "learner3"]
EPOCHS = 12  # 14 batches per epoch, a sync every 32 batches: 7 sync steps
TIMEOUT_S = 300


@pytest.fixture(scope="module", params=["embedded", "anvil"])
def finished_swarm(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalSwarm]:
    """The whole swarm, trained to the end, on the sentinel's embedded chain and on anvil."""
    work_dir = tmp_path_factory.mktemp(f"e2e-{request.param}")
    with contextlib.ExitStack() as stack:
        sentinel_args: list[str] = []
        if request.param == "anvil":
            require_anvil()
            node = stack.enter_context(run_anvil())
            key_file = work_dir / "anvil.key"
            key_file.write_text(node.funded_key)
            sentinel_args = ["--chain-url", node.url, "--key-file", str(key_file)]
        swarm = stack.enter_context(LocalSwarm(work_dir=work_dir))
        prepare_learner_data(swarm, LEARNERS, seed=0)
        swarm.start_sentinel(extra_args=sentinel_args)
        sn_url = swarm.start_sn()
        program_args = ["--epochs", str(EPOCHS), "--min-peers", "2"]
        program_args += ["--merge-params", json.dumps({"weight_by": "samples"})]
        learners = [
            swarm.start_learner(
                name, swarm.sentinel_rest if i == 0 else sn_url, TRAIN_MODULE, program_args
            )
            for i, name in enumerate(LEARNERS)
        ]
        if not swarm.wait(learners, TIMEOUT_S):
            tails = "\n".join(f"--- {p.name}:\n{p.log_tail()}" for p in swarm.processes)
            pytest.fail(f"{request.param}: learners did not finish in time\n{tails}")
        for learner in learners:
            assert learner.popen.returncode == 0, f"{learner.name} failed:\n{learner.log_tail()}"
        yield swarm


def _result(swarm: LocalSwarm, name: str) -> dict:
    return json.loads((swarm.learner_dir(name) / "model" / "result.json").read_text())


def _contract(swarm: LocalSwarm) -> SwarmContract:
    assert swarm.sentinel_rest
    chain = requests.get(f"{swarm.sentinel_rest}/v1/chain", timeout=10).json()
    return SwarmContract(w3=connect(chain["rpc_url"]), address=chain["contract_address"])


def test_every_learner_ends_with_the_same_model(finished_swarm: LocalSwarm) -> None:
    hashes = set()
    for name in LEARNERS:
        model_dir = finished_swarm.learner_dir(name) / "model"
        final_bytes = (model_dir / "final_model.safetensors").read_bytes()
        reported = _result(finished_swarm, name)["final_model_hash"]
        assert hashlib.sha256(final_bytes).hexdigest() == reported
        assert (model_dir / "train_digits_sw.log").stat().st_size > 0
        hashes.add(reported)
    assert len(hashes) == 1


def test_the_model_learned(finished_swarm: LocalSwarm) -> None:
    accuracies = [_result(finished_swarm, name)["swarm_accuracy"] for name in LEARNERS]
    assert min(accuracies) > 0.5, accuracies  # chance is 0.1
    assert len(set(accuracies)) == 1  # same model, same test set


def test_chain_records_every_step(finished_swarm: LocalSwarm) -> None:
    contract = _contract(finished_swarm)
    summary = contract.summary()
    assert contract.code_matches_artifact()
    learners = {n.address for n in contract.nodes() if n.role == "learner"}
    assert len(learners) == 3 and summary.finished_count == 3
    last_step = summary.current_step - 1
    assert last_step >= 5
    sizes: list[int] = []
    final_hash = _result(finished_swarm, LEARNERS[0])["final_model_hash"]
    for k in range(last_step + 1):
        step = contract.step(k)
        assert step.closed, k
        # A learner that joins after step 0 closed catches up and runs its last step alone.
        assert step.participants and set(step.participants) <= learners
        sizes.append(len(step.participants))
        assert step.agreed_hash is not None, k
        merged = [c.merged_hash for c in contract.contributions(k)]
        assert merged.count(step.agreed_hash) * 2 > len(merged)
    assert max(sizes) == 3 and sorted(sizes)[len(sizes) // 2] >= 2
    assert contract.step(last_step).agreed_hash == final_hash
    # Each learner's own log of its steps names the same participants as the chain.
    for name in LEARNERS:
        path = finished_swarm.learner_dir(name) / "model" / "sync_steps.jsonl"
        for row in map(json.loads, path.read_text().splitlines()):
            assert set(row["participants"]) == set(contract.step(row["step"]).participants)
            assert row["refused"] == []


def test_mean_weighs_each_contribution_by_its_sample_count(finished_swarm: LocalSwarm) -> None:
    """The training says `mean` weighted by samples: every check-in carries the learner's
    number of training samples as its weightage, which is what every node merges with."""
    contract = _contract(finished_swarm)
    assert json.loads(contract.training_config().merge_params) == {"weight_by": "samples"}
    samples = {}
    for name in LEARNERS:
        node_dir = finished_swarm.learner_dir(name)
        address = load_or_create_key(node_dir / "node.key").address.lower()
        samples[address] = len(read_partition(node_dir / "data")[1])
    assert min(samples.values()) > 1
    for k in range(contract.current_step()):
        for c in contract.contributions(k):
            assert c.weightage == samples[c.address.lower()], (k, c)


def test_rest_reports_what_the_chain_records(finished_swarm: LocalSwarm) -> None:
    contract = _contract(finished_swarm)
    assert finished_swarm.sn_rest is not None
    for base in (finished_swarm.sn_rest, finished_swarm.sentinel_rest):
        training = requests.get(f"{base}/v1/training", timeout=10).json()
        assert training["state"] == "done"
        assert training["current_step"] == contract.current_step()
        nodes = requests.get(f"{base}/v1/nodes", timeout=10).json()["nodes"]
        assert sorted(n["status"] for n in nodes if n["role"] == "learner") == ["finished"] * 3
        for k in range(contract.current_step()):
            doc = requests.get(f"{base}/v1/steps/{k}", timeout=10).json()
            step = contract.step(k)
            assert doc["agreed_hash"] == step.agreed_hash
            assert [p["address"] for p in doc["participants"]] == list(step.participants)
            on_chain = {c.address: c.weight_hash for c in contract.contributions(k)}
            assert {p["address"]: p["weight_hash"] for p in doc["participants"]} == on_chain


def test_peers_exchanged_verified_weight_files(finished_swarm: LocalSwarm) -> None:
    """Every participant of a step holds every contribution of that step, and each file's
    bytes hash to the commitment on chain: the files went peer to peer and were verified."""
    contract = _contract(finished_swarm)
    stores = [finished_swarm.learner_dir(name) / "files" for name in LEARNERS]
    for k in range(contract.current_step()):
        for c in contract.contributions(k):
            holders = [
                store / c.weight_hash for store in stores if (store / c.weight_hash).exists()
            ]
            assert len(holders) >= len(contract.step(k).participants)
            for path in holders:
                assert hashlib.sha256(path.read_bytes()).hexdigest() == c.weight_hash


def test_sn_nodes_keep_verified_copies_of_the_final_model(finished_swarm: LocalSwarm) -> None:
    final_hash = _result(finished_swarm, LEARNERS[0])["final_model_hash"]
    for sn in ("sentinel", "sn1"):
        copy = finished_swarm.work_dir / sn / "files" / final_hash
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == final_hash
