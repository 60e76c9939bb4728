"""End to end, HPE's `checkinModelOnTrainEnd` and `useAdaptiveSync`: real swarms (sentinel,
learners as `swarm sl` processes running tests/hpe_program.py) whose learners stop at different
epochs; what each learner contributed is read back from the chain."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hpe_swarm import ENV, PROGRAM, TIMEOUT_S

from swarm_learning.adaptive_sync import next_interval
from swarm_learning.demo.local_swarm import LocalSwarm, NodeProcess
from swarm_network.chain import SwarmContract, connect

pytestmark = pytest.mark.slow  # about a minute per swarm on an idle 2-core machine


def run(swarm: LocalSwarm, learners: dict[str, list[str]]):
    """Start the sentinel and one learner per entry (its program arguments); wait for all to
    exit; the contract (read-only) and each learner's result.json and sync_steps.jsonl."""
    swarm.environment.update(ENV)
    rest = swarm.start_sentinel()
    procs: dict[str, NodeProcess] = {}
    for name, args in learners.items():
        procs[name] = swarm._spawn(
            name,
            [
                "sl", "--sn", rest, "--program", str(PROGRAM),
                "--node-dir", str(swarm.learner_dir(name)),
                "--file-host", "127.0.0.1", "--file-port", "0", "--", *args,
            ],
        )  # fmt: skip
    assert swarm.wait(list(procs.values()), TIMEOUT_S), {n: p.log_tail() for n, p in procs.items()}
    for process in procs.values():
        assert process.popen.returncode == 0, process.log_tail()
    chain = requests.get(f"{rest}/v1/chain", timeout=30).json()
    assert swarm.sentinel_rpc is not None
    contract = SwarmContract(w3=connect(swarm.sentinel_rpc), address=chain["contract_address"])
    results: dict[str, dict[str, Any]] = {}
    for name in learners:
        model_dir = swarm.learner_dir(name) / "model"
        results[name] = json.loads((model_dir / "result.json").read_text())
        rows = (model_dir / "sync_steps.jsonl").read_text().splitlines()
        results[name]["rows"] = [json.loads(line) for line in rows]
    return contract, results


def contributed(contract: SwarmContract, address: str) -> dict[int, str]:
    """step -> the weight hash `address` checked in with."""
    out = {}
    for k in range(contract.current_step() + 1):
        for c in contract.contributions(k):
            if c.address == address:
                out[k] = c.weight_hash
    return out


# 1 epoch of 10 batches: steps 0-2 in its loop, step 3 at its end (batches 9-10)
SHORT = ["--epochs", "1", "--batches", "10", "--seed", "1"]
LONG = ["--epochs", "3", "--batches", "8", "--seed", "2"]  # 3 epochs: steps 0-6


@pytest.mark.parametrize("mode", ["inactive", "snapshot", "active"])
def test_checkin_model_on_train_end(local_swarm: LocalSwarm, mode: str) -> None:
    contract, results = run(local_swarm, {"short": [*SHORT, "--mode", mode], "long": LONG})
    short, long = results["short"], results["long"]
    # Both end with the one model the chain names as final.
    final = contract.final_model()
    assert final.ended and final.model_hash is not None
    assert short["final_model_hash"] == long["final_model_hash"] == final.model_hash
    long_steps = contributed(contract, long["address"])
    short_steps = contributed(contract, short["address"])
    assert sorted(long_steps) == list(range(7))  # the long learner trained through step 6
    stop = 3  # the short learner's last step of its own training
    trained = {k: v for k, v in short_steps.items() if k <= stop}
    after = {k: v for k, v in short_steps.items() if k > stop}
    assert sorted(trained) == list(range(stop + 1))
    assert contract.is_stopped(short["address"]) is (mode != "inactive")
    if mode == "inactive":
        # It left the quorum: no contribution after its stop; the long learner went on alone.
        assert after == {}
        assert contract.node(short["address"]).finished
        return
    # It took part in every later step that the long learner opened.
    assert sorted(after) == list(range(stop + 1, 7))
    if mode == "snapshot":
        # The same weights each time: those it had when it stopped, trained since its last
        # merge (its stop step's merge is not taken).
        assert set(after.values()) == {short_steps[stop]}
        assert short_steps[stop] != contract.step(stop).agreed_hash
    else:
        # Active: each step it offers the merge it took from the step before, untrained.
        for k, weight_hash in after.items():
            assert weight_hash == contract.step(k - 1).agreed_hash, k


def test_adaptive_sync_interval_follows_the_agreed_rule(
    local_swarm: LocalSwarm,
) -> None:
    args = ["--adaptive", "--sync-frequency", "2", "--epochs", "3", "--batches", "16"]
    contract, results = run(
        local_swarm,
        {"a": [*args, "--seed", "1"], "b": [*args, "--seed", "2"]},
    )
    a, b = results["a"], results["b"]
    assert a["final_model_hash"] == b["final_model_hash"] == contract.final_model().model_hash
    config = contract.sync_config()
    assert config.adaptive and config.sync_frequency == 2
    # The interval each learner used after each step, recomputed from the chain by the rule.
    expected = {0: 2, 1: 2}
    last = max(r["step"] for r in a["rows"])
    for j in range(2, last + 1):
        before, now = contract.validation(j - 2), contract.validation(j - 1)
        assert before.final and now.final and now.count >= 1
        expected[j] = next_interval(expected[j - 1], 2, before.mean_loss, now.mean_loss)
    for learner in (a, b):
        used = {r["step"]: r["next_interval"] for r in learner["rows"]}
        assert all(used[k] == expected[k] for k in used if k in expected), (used, expected)
    assert len(set(expected.values())) > 1, expected  # the interval moved
    # Fewer steps than a fixed interval of 2 would take (48 batches / 2 = 24 + step 0).
    assert last < 24
