"""Does a flood of endless eth_calls slow anybody else down, and what do the call bounds cost?

The sentinel's embedded chain behind its real JSON-RPC server (in this process, on a free
port). A flooding client on another loopback address (127.0.0.2) keeps `--flooders`
connections busy with eth_calls of a contract that jumps forever; each is aborted at its
deadline. Measured, without and with that flood:

- `eth_blockNumber` from another client (a read: its own lane),
- a value transfer: eth_sendRawTransaction, then its receipt (the chain's lane),
- a check-in's dry run: eth_call of `checkIn` on the SwarmLearning contract (the calls lane,
  where it waits for its turn among the flooder's calls).

And the cost of the bounds on that dry run: the same eth_call in-process, with the deadline
checks (`sentinel.chain.call_bounds.bound_execution`) and with them replaced by nothing.

Usage: python benchmarks/rpc_stall.py [--samples N] [--flooders N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from eth_account import Account
from eth_account.signers.local import LocalAccount

from sentinel.chain import call_bounds, execution
from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.rpc_server import create_rpc_app
from swarm_network.chain import SwarmContract, connect
from swarm_network.files.server import BackgroundServer

ENDLESS_LOOP = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP
# PUSH1 4 DUP1 PUSH1 12 PUSH1 0 CODECOPY PUSH1 0 RETURN STOP, then the code it deploys
ENDLESS_LOOP_INIT = bytes.fromhex("600480600c6000396000f300" + ENDLESS_LOOP[2:])
GAS_PRICE = 10 * 10**9


def post(url: str, method: str, params: list[Any], source_ip: str = "127.0.0.1") -> Any:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=120, source_address=(source_ip, 0)
    )
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    try:
        connection.request("POST", "/", body, {"Content-Type": "application/json"})
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def send(url: str, account: LocalAccount, **fields: Any) -> dict[str, Any]:
    """Sign, send and return the receipt of one transaction from `account`."""
    nonce = int(post(url, "eth_getTransactionCount", [account.address, "pending"])["result"], 16)
    tx = {"nonce": nonce, "gasPrice": GAS_PRICE, "chainId": 1337, "value": 0, **fields}
    raw = account.sign_transaction(tx).raw_transaction
    tx_hash = post(url, "eth_sendRawTransaction", ["0x" + raw.hex()])["result"]
    return post(url, "eth_getTransactionReceipt", [tx_hash])["result"]


@contextmanager
def flood(url: str, target: str, connections: int) -> Iterator[list[int]]:
    """`connections` threads on 127.0.0.2 calling `target` back to back; yields the count of
    calls aborted at their deadline."""
    stop = threading.Event()
    answered = [0]

    def keep_calling() -> None:
        while not stop.is_set():
            answer = post(url, "eth_call", [{"to": target}, "latest"], source_ip="127.0.0.2")
            answered[0] += "execution aborted" in answer.get("error", {}).get("message", "")

    threads = [threading.Thread(target=keep_calling, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    try:
        yield answered
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def latencies(samples: int, action: Callable[[], Any]) -> list[float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered) * 1000:8.1f} ms   p95 {p95 * 1000:8.1f} ms"


@contextmanager
def without_bounds() -> Iterator[None]:
    """The calls as before the deadline existed (for the overhead figure only)."""
    original = execution.call_bounds.bound_execution
    execution.call_bounds.bound_execution = lambda state, deadline: None
    try:
        yield
    finally:
        execution.call_bounds.bound_execution = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--flooders", type=int, default=4)
    args = parser.parse_args()

    bank = Account.create()
    chain = EmbeddedChain(funded_accounts={bank.address: 10**24})
    server = BackgroundServer(create_rpc_app(chain)).start()
    url = server.url
    try:
        loop = send(url, bank, data=ENDLESS_LOOP_INIT, gas=200_000)["contractAddress"]
        assert post(url, "eth_getCode", [loop, "latest"])["result"] == ENDLESS_LOOP
        w3 = connect(url)
        admin = SwarmContract.deploy(w3=w3, account=bank, sentinel_file_url="http://sentinel")
        learner = Account.create()
        admin.send_value(learner.address, 10**18)
        admin.enroll(learner.address, "learner", "http://learner")
        SwarmContract(w3=w3, address=admin.address, account=learner).configure_training(
            min_peers=2, grace_seconds=60, merge_method="fedavg", merge_params="{}"
        )
        dry_run = {
            "from": learner.address,
            "to": admin.address,
            "data": admin.contract.encode_abi(
                "checkIn", args=[0, b"\x01" * 32, 10, b"\x00" * 32, 0]
            ),
        }
        sink = Account.create().address

        def block_number() -> None:
            post(url, "eth_blockNumber", [])

        def transfer() -> None:
            assert send(url, bank, to=sink, value=1, gas=21_000)["status"] == "0x1"

        def check_in_dry_run() -> None:
            assert "result" in post(url, "eth_call", [dry_run, "pending"])

        actions = {
            "eth_blockNumber": block_number,
            "transfer (send + receipt)": transfer,
            "check-in dry run (eth_call)": check_in_dry_run,
        }
        print(f"call deadline {call_bounds.CALL_TIMEOUT_S:g} s, gas cap {call_bounds.CALL_GAS_CAP}")
        for name, action in actions.items():
            print(f"{name:30} no flood    {summary(latencies(args.samples, action))}")
            with flood(url, loop, args.flooders) as answered:
                times = latencies(args.samples, action)
            print(
                f"{name:30} flood of {args.flooders}  {summary(times)}"
                f"   ({answered[0]} endless calls aborted meanwhile)"
            )

        def in_process() -> None:
            chain.handle("eth_call", [dry_run, "pending"])

        latencies(10, in_process)  # warm up
        bounded: list[float] = []
        unbounded: list[float] = []
        for _ in range(max(100, 10 * args.samples)):  # interleaved: the machine's load varies
            bounded += latencies(1, in_process)
            with without_bounds():
                unbounded += latencies(1, in_process)
        overhead = statistics.median(bounded) / statistics.median(unbounded) - 1
        print(f"dry run in-process, bounded    {summary(bounded)}")
        print(f"dry run in-process, unbounded  {summary(unbounded)}   overhead {overhead:+.1%}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
