"""One run of each side of `benchmarks/vs_flower.py`, as processes on loopback, and what
it measured: per steady round (the first is left out: connections, first compilations),
the round time and the slowest participant's own training time; ours also its split and
the transactions it sent, counted from the chain."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
from eth_utils import keccak

from benchmarks.wire.anvil import FUNDED_KEY
from contracts import load_artifact
from swarm_learning.demo.local_swarm import LocalSwarm, free_port

PARTS = 3
RUN_TIMEOUT_S = 900.0
SERVER_START_S = 3.0
LEARNER_MODULE = "benchmarks.wire.swarm_learner"
FLOWER_MODULE = "benchmarks.wire.flower_side"
SPLIT_KEYS = ("check_in_s", "wait_s", "transfer_s", "merge_s")


@dataclass
class RunResult:
    round_s: float  # median over the steady rounds
    overhead_s: float  # median of (round - slowest participant's training)
    accuracy: float
    split: dict[str, float] = field(default_factory=dict)  # ours: median seconds per part
    transactions: dict[str, int] = field(default_factory=dict)  # ours: by contract function
    steps: int = 0


def _steady(rounds: list[tuple[float, float]]) -> tuple[float, float]:
    """Medians of round time and overhead over (round_s, slowest_train_s), first one left out."""
    steady = rounds[1:] or rounds
    return (
        statistics.median(r for r, _ in steady),
        statistics.median(r - t for r, t in steady),
    )


def run_flower(params: int, rounds: int, work_dir: Path) -> RunResult:
    work_dir.mkdir(parents=True, exist_ok=True)
    address = f"127.0.0.1:{free_port()}"
    out = work_dir / "flower.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    common = [sys.executable, "-m", FLOWER_MODULE]
    procs = []
    try:
        procs.append(_spawn([*common, "server", "--params", str(params), "--rounds",
                             str(rounds), "--clients", str(PARTS), "--address", address,
                             "--out", str(out)], work_dir / "server.log", env))  # fmt: skip
        time.sleep(SERVER_START_S)  # the legacy client gives up if no server listens yet
        for part in range(PARTS):
            procs.append(_spawn([*common, "client", "--params", str(params), "--part",
                                 str(part), "--parts", str(PARTS), "--address", address],
                                work_dir / f"client{part}.log", env))  # fmt: skip
        procs[0].wait(timeout=RUN_TIMEOUT_S)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    report = json.loads(out.read_text())
    measured = [(r["aggregated"] - r["asked"], max(r["train_s"])) for r in report["rounds"]]
    round_s, overhead_s = _steady(measured)
    return RunResult(round_s=round_s, overhead_s=overhead_s, accuracy=report["accuracy"])


def _spawn(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with log.open("wb") as handle:
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)


def run_ours(params: int, rounds: int, work_dir: Path, chain_url: str | None = None) -> RunResult:
    """`chain_url`: an anvil to deploy on (funded by its first development account) instead
    of the sentinel's embedded chain."""
    names = [f"learner{i}" for i in range(PARTS)]
    sentinel_args = []
    if chain_url is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        key_file = work_dir / "chain.key"
        key_file.write_text(FUNDED_KEY)
        sentinel_args = ["--chain-url", chain_url, "--key-file", str(key_file)]
    with LocalSwarm(work_dir=work_dir) as swarm:
        swarm.start_sentinel(extra_args=sentinel_args)
        sn_url = swarm.start_sn()
        learners = [
            swarm.start_learner(name, swarm.sentinel_rest if i == 0 else sn_url, LEARNER_MODULE,
                                ["--params", str(params), "--rounds", str(rounds),
                                 "--part", str(i), "--parts", str(PARTS)])
            for i, name in enumerate(names)
        ]  # fmt: skip
        if not swarm.wait(learners, RUN_TIMEOUT_S) or any(p.popen.returncode for p in learners):
            raise SystemExit(f"our swarm failed; logs in {work_dir}/logs")
        assert swarm.sentinel_rpc is not None
        transactions = count_transactions(chain_url or swarm.sentinel_rpc)
    reports = [json.loads((work_dir / n / "model" / "wire.json").read_text()) for n in names]
    ends = [max(r["rounds"][k]["sync_end"] for r in reports) for k in range(rounds)]
    measured = [
        (ends[k] - ends[k - 1],
         max(r["rounds"][k]["train_end"] - r["rounds"][k]["train_start"] for r in reports))
        for k in range(1, rounds)
    ]  # fmt: skip
    round_s, overhead_s = _steady(measured)
    steps = []
    for name in names:
        path = work_dir / name / "model" / "sync_steps.jsonl"
        steps += [json.loads(line) for line in path.read_text().splitlines()]
    steady = [s for s in steps if s["step"] >= 2] or steps
    split = {k: statistics.median(s[k] for s in steady) for k in SPLIT_KEYS}
    return RunResult(
        round_s=round_s,
        overhead_s=overhead_s,
        accuracy=statistics.median(r["accuracy"] for r in reports),
        split=split,
        transactions=transactions,
        steps=max(s["step"] for s in steps) + 1,
    )


def count_transactions(rpc_url: str) -> dict[str, int]:
    """The transactions on chain to our contract, by function name (from their selector)."""
    selectors = {}
    for entry in load_artifact("SwarmLearning")["abi"]:
        if entry["type"] == "function":
            signature = f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"
            selectors["0x" + keccak(text=signature)[:4].hex()] = entry["name"]
    head = int(_rpc(rpc_url, "eth_blockNumber", []), 16)
    counts: Counter[str] = Counter()
    for number in range(head + 1):
        block = _rpc(rpc_url, "eth_getBlockByNumber", [hex(number), True])
        for tx in block["transactions"]:
            name = selectors.get(tx["input"][:10], "other")
            counts[name] += 1
    return dict(counts)


def _rpc(url: str, method: str, params: list) -> object:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return requests.post(url, json=body, timeout=30).json()["result"]
