"""Transactions per second and latencies through the sentinel's JSON-RPC, next to anvil's.

Why: every check-in of a swarm is a transaction through the sentinel's embedded chain (py-evm
behind an aiohttp server, one chain thread). This shows what that path sustains, and how far
it is from a native dev node (anvil, Rust) doing the same work on the same machine.

What runs, in ONE invocation:
- the sentinel as its own process (`swarm sentinel`, via LocalSwarm), and anvil 1.7.1
  (`npm ci --prefix tests/anvil`; skipped with a note if it is not installed);
- on each: fund sender accounts (on the sentinel from its own key, read from its data dir's
  `node.key`: the only account its chain funds), then send signed EIP-1559 transfers with raw
  `eth_sendRawTransaction` from 1 and from 4 concurrent senders (threads, each its own key and
  nonce; transactions signed before the clock starts), 200 transactions per configuration;
  both chains mine each transaction as it arrives, so a returned hash is a mined transaction
  (every receipt is checked after the timed part);
- then 200 sequential `eth_call` reads of the SwarmLearning contract (`nodeCount()`).

Prints one table, figures only. Usage: python benchmarks/rpc_throughput.py [--txs 200]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_network.defaults import CHAIN_ID, FILE_PORT, LOOPBACK
from swarm_network.text_table import table

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = json.loads((ROOT / "contracts" / "artifacts" / "SwarmLearning.json").read_text())
CONTRACT = Web3().eth.contract(abi=ARTIFACT["abi"], bytecode=ARTIFACT["bytecode"])
SINK = to_checksum_address("0x" + "5a" * 20)  # receives every transfer
MAX_FEE = 10 * 10**9  # far above both chains' base fees, which only fall under this load
TIP = 10**9
SENDER_FUNDS = 10**18  # 1 ETH: thousands of 21 000-gas transfers at 10 gwei
CONCURRENCY = (1, 4)
TIMEOUT_S = 60


def load_anvil_helper() -> ModuleType:
    """tests/anvil_node.py, by path: tests/ is not a package and may not be on sys.path."""
    path = ROOT / "tests" / "anvil_node.py"
    spec = importlib.util.spec_from_file_location("anvil_node", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


class Rpc:
    """Raw JSON-RPC over one keep-alive HTTP session (one per thread: sessions are not
    thread-safe), so that what is timed is the node, not connection set-up."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self._ids = 0

    def call(self, method: str, params: list[Any]) -> Any:
        self._ids += 1
        body = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}
        answer = self.session.post(self.url, json=body, timeout=TIMEOUT_S).json()
        if "error" in answer:
            raise RuntimeError(f"{method} failed: {answer['error']}")
        return answer["result"]

    def nonce(self, address: str) -> int:
        return int(self.call("eth_getTransactionCount", [address, "latest"]), 16)

    def send(self, raw: bytes) -> str:
        return self.call("eth_sendRawTransaction", ["0x" + raw.hex()])

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while (receipt := self.call("eth_getTransactionReceipt", [tx_hash])) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no receipt for {tx_hash}")
            time.sleep(0.01)
        return receipt


def signed(account: LocalAccount, nonce: int, **fields: Any) -> bytes:
    tx = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "maxFeePerGas": MAX_FEE,
        "maxPriorityFeePerGas": TIP,
        "gas": 21_000,
        "to": SINK,
        "value": 1,
        **fields,
    }
    return bytes(account.sign_transaction(tx).raw_transaction)


def fund(rpc: Rpc, funder: LocalAccount, accounts: list[LocalAccount]) -> None:
    nonce = rpc.nonce(funder.address)
    hashes = [
        rpc.send(signed(funder, nonce + i, to=account.address, value=SENDER_FUNDS))
        for i, account in enumerate(accounts)
    ]
    for tx_hash in hashes:
        if rpc.receipt(tx_hash)["status"] != "0x1":
            raise RuntimeError("funding transfer failed")


@dataclass
class SendResult:
    tps: float
    latencies_s: list[float]


def measure_sends(url: str, senders: list[LocalAccount], total: int) -> SendResult:
    """`total` transfers split over the senders, each sender in its own thread."""
    per_sender = total // len(senders)
    setup = Rpc(url)
    batches = []
    for sender in senders:  # sign first: the client's signing time is not the node's
        first = setup.nonce(sender.address)
        batches.append([signed(sender, first + i) for i in range(per_sender)])
    latencies: list[list[float]] = [[] for _ in senders]
    hashes: list[list[str]] = [[] for _ in senders]
    errors: list[BaseException] = []
    start = threading.Barrier(len(senders) + 1)

    def run(index: int) -> None:
        rpc = Rpc(url)
        rpc.call("eth_chainId", [])  # open the connection before the clock starts
        start.wait()
        try:
            for raw in batches[index]:
                began = time.perf_counter()
                hashes[index].append(rpc.send(raw))
                latencies[index].append(time.perf_counter() - began)
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(senders))]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"a sender failed: {errors[0]!r}")
    for tx_hash in (h for per_thread in hashes for h in per_thread):  # really mined?
        if setup.receipt(tx_hash)["status"] != "0x1":
            raise RuntimeError(f"transfer {tx_hash} failed")
    done = per_sender * len(senders)
    return SendResult(done / elapsed, [s for per_thread in latencies for s in per_thread])


def measure_reads(url: str, contract: str, count: int) -> list[float]:
    rpc = Rpc(url)
    request = {"to": contract, "data": CONTRACT.encode_abi("nodeCount", [])}
    rpc.call("eth_call", [request, "latest"])  # warm-up
    latencies = []
    for _ in range(count):
        began = time.perf_counter()
        rpc.call("eth_call", [request, "latest"])
        latencies.append(time.perf_counter() - began)
    return latencies


def deploy(rpc: Rpc, account: LocalAccount) -> str:
    data = CONTRACT.constructor(f"http://{LOOPBACK}:{FILE_PORT}").data_in_transaction
    raw = signed(account, rpc.nonce(account.address), to=None, data=data, gas=3_000_000, value=0)
    return to_checksum_address(rpc.receipt(rpc.send(raw))["contractAddress"])


def run_backend(url: str, funder: LocalAccount, contract: str, txs: int) -> dict[str, Any]:
    """Every figure for one chain: tx/s and send latencies per concurrency, read latencies."""
    rpc = Rpc(url)
    senders = [Account.from_key(keccak(f"rpc benchmark sender {i}".encode())) for i in range(4)]
    fund(rpc, funder, senders)
    figures: dict[str, Any] = {}
    for concurrency in CONCURRENCY:
        figures[concurrency] = measure_sends(url, senders[:concurrency], txs)
    figures["read"] = measure_reads(url, contract, txs)
    return figures


@contextmanager
def sentinel(work_dir: Path) -> Iterator[tuple[str, LocalAccount, str]]:
    """A real `swarm sentinel` process: its RPC URL, its funded key, its contract."""
    with LocalSwarm(work_dir=work_dir) as swarm:
        swarm.start_sentinel()
        assert swarm.sentinel_rpc is not None and swarm.sentinel_rest is not None
        key = (work_dir / "sentinel" / "node.key").read_text(encoding="ascii").strip()
        chain = requests.get(f"{swarm.sentinel_rest}/v1/chain", timeout=TIMEOUT_S).json()
        yield swarm.sentinel_rpc, Account.from_key(key), chain["contract_address"]


def ms(values: list[float], quantile: float = 0.5) -> str:
    if quantile == 0.5:
        return f"{statistics.median(values) * 1000:.1f}"
    return f"{statistics.quantiles(values, n=100)[round(quantile * 100) - 1] * 1000:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txs", type=int, default=200, help="transactions per configuration")
    args = parser.parse_args()
    if args.txs < 4 or args.txs > 5000:
        parser.error("--txs must be between 4 and 5000")

    anvil_node = load_anvil_helper()
    results: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-rpc-") as tmp,
        sentinel(Path(tmp)) as (url, funder, contract),
    ):
        print("sentinel up; measuring", file=sys.stderr, flush=True)
        results["sentinel"] = run_backend(url, funder, contract, args.txs)

    if anvil_node.anvil_binary() is None:
        print(f"anvil column left empty: {anvil_node.MISSING_REASON}", file=sys.stderr)
    else:
        # The sentinel's default chain id, so that both backends take the same transactions.
        with anvil_node.run_anvil(chain_id=CHAIN_ID) as node:
            print("anvil up; measuring", file=sys.stderr, flush=True)
            funder = Account.from_key(node.funded_key)
            contract = deploy(Rpc(node.url), funder)
            results["anvil"] = run_backend(node.url, funder, contract, args.txs)

    columns = ["sentinel", "anvil"]
    rows: list[list[object]] = []
    for concurrency in CONCURRENCY:
        label = f"{concurrency} sender{'s' if concurrency > 1 else ''}"
        sends = {c: results[c][concurrency] for c in columns if c in results}
        rows.append(
            [f"tx/s, {label}"] + [_cell(sends, c, lambda r: f"{r.tps:.0f}") for c in columns]
        )
        rows.append(
            [f"send median ms, {label}"]
            + [_cell(sends, c, lambda r: ms(r.latencies_s)) for c in columns]
        )
        rows.append(
            [f"send p90 ms, {label}"]
            + [_cell(sends, c, lambda r: ms(r.latencies_s, 0.9)) for c in columns]
        )
    reads = {c: results[c]["read"] for c in columns if c in results}
    rows.append(["eth_call median ms"] + [_cell(reads, c, ms) for c in columns])
    rows.append(["eth_call p90 ms"] + [_cell(reads, c, lambda r: ms(r, 0.9)) for c in columns])
    print(f"{args.txs} transfers per configuration, {args.txs} reads; loopback HTTP")
    print(table(["", "sentinel (py-evm)", "anvil 1.7.1"], rows))
    return 0


def _cell(values: dict[str, Any], column: str, render: Callable[[Any], str]) -> str | None:
    """One table cell; None (shown as '-') for a chain that did not run."""
    return render(values[column]) if column in values else None


if __name__ == "__main__":
    sys.exit(main())
