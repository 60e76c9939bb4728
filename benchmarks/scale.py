"""How a sync step scales with the number of learners P, on this machine.

For each model size (`--params`, default 1 M and 10 M float32 parameters) and each P
(`--learners`, default 4 8 16; 32 if memory allows), a whole swarm runs as processes on
loopback (sentinel with its embedded chain, one more SN node, P learners split between the
two), every learner running `benchmarks/wire/scale_learner.py`: one SGD batch, then a sync,
`--steps` times, `min_peers` = P, `mean`. Torch and BLAS use one thread per process
(SWARM_TORCH_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS = 1): P processes share 2 cores.

Prints one row per configuration, over the steps after the first sync (medians over every
learner and step):
- step: a learner's whole sync step (check-in + wait + transfer + merge), and its parts;
  "chain" = check-in + waiting for the close (quorum, the other learners' check-ins, closing),
  split into what the chain itself costs and what is waiting for peers, from the learners'
  wall clocks (one machine, one clock): "publish" (storing the own file for the peers:
  encoding, hashing, writing), "tx" (the rest of the check-in: the transaction's round trip),
  "close" (from the step's last check-in to this learner knowing of the close:
  the close, its event pushed through the SN node, the closed step's reads) and "peers" (from
  this learner's check-in to the step's last one: the others still training or merging);
- bytes in / node: what one learner downloads per step, (participants - 1) x its weight file
  (the payload of the verified peer downloads; HTTP headers are noise next to it);
- tx / step and gas / step: transactions sent to the SwarmLearning contract for the steps
  (check-ins, closes, settles, merge reports), read from the chain with their receipts, over
  the number of steps.

All processes share the machine, so with P = 16 the step time also holds 16 merges and 16 x 15
downloads on 2 cores: compare the chain column for the contract and the protocol, the others
for the wire and the CPU.

Usage: python benchmarks/scale.py [--learners 4 8 16] [--params 1000000 10000000]
       [--steps 4] [--timeout 900] [--work-dir DIR]
On the 2-core VM, `--steps 3` for both sizes and P = 4, 8, 16 takes about 4.5 minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from eth_utils import keccak

from contracts import load_artifact
from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_network.text_table import table

LEARNER_MODULE = "benchmarks.wire.scale_learner"
STEP_FUNCTIONS = ("checkIn", "closeStep", "settleMerge", "reportMerge")
ONE_THREAD = {"SWARM_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Row:
    params: int
    learners: int
    step_s: float
    chain_s: float
    publish_s: float
    tx_s: float
    close_s: float
    peers_s: float
    transfer_s: float
    merge_s: float
    bytes_in: int
    tx_per_step: float
    gas_per_step: float
    wall_s: float


def _rpc(url: str, method: str, params: list) -> dict:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return requests.post(url, json=body, timeout=60).json()["result"]


def step_transactions(rpc_url: str, contract: str) -> tuple[int, int]:
    """(count, gas used) of the step transactions (STEP_FUNCTIONS) sent to `contract`."""
    names = {}
    for entry in load_artifact("SwarmLearning")["abi"]:
        if entry["type"] == "function" and entry["name"] in STEP_FUNCTIONS:
            signature = f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"
            names["0x" + keccak(text=signature)[:4].hex()] = entry["name"]
    count = gas = 0
    head = int(_rpc(rpc_url, "eth_blockNumber", []), 16)
    for number in range(head + 1):
        block = _rpc(rpc_url, "eth_getBlockByNumber", [hex(number), True])
        for tx in block["transactions"]:
            if (tx.get("to") or "").lower() == contract.lower() and tx["input"][:10] in names:
                receipt = _rpc(rpc_url, "eth_getTransactionReceipt", [tx["hash"]])
                count += 1
                gas += int(receipt["gasUsed"], 16)
    return count, gas


def run_one(params: int, learners: int, steps: int, timeout_s: float, work_dir: Path) -> Row:
    started = time.monotonic()
    names = [f"learner{i}" for i in range(learners)]
    with LocalSwarm(work_dir=work_dir, environment=dict(ONE_THREAD)) as swarm:
        sentinel = swarm.start_sentinel()
        sn = swarm.start_sn()
        procs = [
            swarm.start_learner(name, sentinel if i % 2 == 0 else sn, LEARNER_MODULE,
                                ["--params", str(params), "--steps", str(steps),
                                 "--learners", str(learners), "--part", str(i)])
            for i, name in enumerate(names)
        ]  # fmt: skip
        if not swarm.wait(procs, timeout_s) or any(p.popen.returncode for p in procs):
            raise SystemExit(f"P={learners}, {params} params: the swarm failed; logs in {work_dir}")
        wall_s = time.monotonic() - started
        assert swarm.sentinel_rpc is not None
        contract = requests.get(f"{sentinel}/v1/chain", timeout=30).json()["contract_address"]
        tx_count, gas = step_transactions(swarm.sentinel_rpc, contract)
    rows, file_bytes = [], 0
    for name in names:
        model_dir = work_dir / name / "model"
        file_bytes = json.loads((model_dir / "scale.json").read_text())["weight_file_bytes"]
        lines = (model_dir / "sync_steps.jsonl").read_text().splitlines()
        rows += [r for r in map(json.loads, lines) if r["step"] >= 1]
    n_steps = steps + 1  # step 0 is the first sync of on_train_begin

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    def checked_in_at(r: dict) -> float:
        return r["started_at"] + r["check_in_s"]

    last_check_in: dict[int, float] = {}
    for r in rows:
        last_check_in[r["step"]] = max(last_check_in.get(r["step"], 0.0), checked_in_at(r))
    peers = [last_check_in[r["step"]] - checked_in_at(r) for r in rows]
    close = [max(0.0, r["wait_s"] - wait) for r, wait in zip(rows, peers, strict=True)]

    return Row(
        params=params,
        learners=learners,
        step_s=median("total_s"),
        chain_s=statistics.median(r["check_in_s"] + r["wait_s"] for r in rows),
        publish_s=median("publish_s"),
        tx_s=statistics.median(r["check_in_s"] - r["publish_s"] for r in rows),
        close_s=statistics.median(close),
        peers_s=statistics.median(peers),
        transfer_s=median("transfer_s"),
        merge_s=median("merge_s"),
        bytes_in=int(statistics.median((len(r["participants"]) - 1) * file_bytes for r in rows)),
        tx_per_step=tx_count / n_steps,
        gas_per_step=gas / n_steps,
        wall_s=wall_s,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--params", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--steps", type=int, default=4, help="syncs after the first one")
    parser.add_argument("--timeout", type=float, default=900.0, help="per configuration, s")
    parser.add_argument("--work-dir", type=Path, help="kept if given; default: a temp dir")
    args = parser.parse_args()
    results = []
    for params in args.params:
        for p in args.learners:
            work = args.work_dir / f"{params}-{p}" if args.work_dir else Path(tempfile.mkdtemp())
            print(f"  {params} params, P = {p} ...", file=sys.stderr, flush=True)
            try:
                results.append(run_one(params, p, args.steps, args.timeout, work))
            finally:
                if args.work_dir is None:
                    shutil.rmtree(work, ignore_errors=True)
            print(f"  done in {results[-1].wall_s:.0f} s", file=sys.stderr, flush=True)
    headers = ["params", "P", "step s", "chain s", "publish / tx / close / peers s", "transfer s",
               "merge s", "MB in / node", "tx / step", "gas / step"]  # fmt: skip
    print(table(headers, [
        [f"{r.params / 1e6:g} M", r.learners, f"{r.step_s:.2f}", f"{r.chain_s:.2f}",
         f"{r.publish_s:.2f} / {r.tx_s:.2f} / {r.close_s:.2f} / {r.peers_s:.2f}",
         f"{r.transfer_s:.2f}", f"{r.merge_s:.2f}", f"{r.bytes_in / 1e6:.0f}",
         f"{r.tx_per_step:.1f}", f"{r.gas_per_step / 1e6:.2f} M"]
        for r in results
    ]))  # fmt: skip


if __name__ == "__main__":
    main()
