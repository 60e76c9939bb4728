"""Clients that try to stall the chain: raw JSON-RPC from a chosen loopback address, a
contract that loops forever, and a flood of calls to it. Not a test module.

Every 127.x.y.z address is loopback on Linux, so a client bound to 127.0.0.2 reaches the
server on 127.0.0.1 as another host would: the server tells clients apart by address.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from eth_account.signers.local import LocalAccount

from sentinel.chain.rpc_format import SERVER_ERROR

# JUMPDEST x 250, PUSH1 0, JUMP: an endless loop at about 1 gas per instruction (JUMPDEST costs
# 1), so that it meets the CPU deadline long before the gas cap, also where py-evm is fast (a
# loop of JUMPDEST PUSH1 JUMP alone, 4 gas per instruction, burnt the 5 M cap within 1 s here).
ENDLESS_LOOP = bytes.fromhex("5b" * 250 + "600056")
GAS_LEFT = bytes.fromhex("5a60005260206000f3")  # returns the GAS opcode's value
FLOODER_ADDRESS = "127.0.0.2"
TIMEOUT_MESSAGE = "execution aborted (timeout"
GAS_PRICE = 10 * 10**9


@dataclass
class RawClient:
    """Plain JSON-RPC over one HTTP request each, from `source_ip`, optionally claiming to
    forward for someone (as an SN node's `/rpc` proxy does)."""

    url: str
    source_ip: str = "127.0.0.1"
    forwarded_for: str | None = None

    def post(self, payload: Any, timeout_s: float = 60.0) -> Any:
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(
            parts.hostname, parts.port, timeout=timeout_s, source_address=(self.source_ip, 0)
        )
        headers = {"Content-Type": "application/json"}
        if self.forwarded_for is not None:
            headers["X-Forwarded-For"] = self.forwarded_for
        try:
            connection.request("POST", parts.path or "/", json.dumps(payload), headers)
            response = connection.getresponse()
            assert response.status == 200, response.status
            return json.loads(response.read())
        finally:
            connection.close()

    def call(self, method: str, params: list[Any], timeout_s: float = 60.0) -> dict[str, Any]:
        """The whole response object of one request."""
        request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        return self.post(request, timeout_s)

    def timed(self, method: str, params: list[Any]) -> tuple[dict[str, Any], float]:
        started = time.monotonic()
        answer = self.call(method, params)
        return answer, time.monotonic() - started

    def result(self, method: str, params: list[Any]) -> Any:
        answer = self.call(method, params)
        assert "result" in answer, answer
        return answer["result"]


def init_code(runtime: bytes) -> bytes:
    """Creation code that deploys `runtime` as it is (CODECOPY it, RETURN it)."""
    assert len(runtime) < 256
    prefix = bytes([0x60, len(runtime), 0x80, 0x60, 12, 0x60, 0, 0x39, 0x60, 0, 0xF3, 0x00])
    return prefix + runtime


def deploy_runtime(client: RawClient, account: LocalAccount, runtime: bytes) -> str:
    """Deploy `runtime` from `account` (funded) and return the contract's address."""
    nonce = int(client.result("eth_getTransactionCount", [account.address, "pending"]), 16)
    chain_id = int(client.result("eth_chainId", []), 16)
    tx = {
        "nonce": nonce,
        "gas": 200_000,
        "gasPrice": GAS_PRICE,
        "data": init_code(runtime),
        "value": 0,
        "chainId": chain_id,
    }
    raw = account.sign_transaction(tx).raw_transaction
    tx_hash = client.result("eth_sendRawTransaction", ["0x" + raw.hex()])
    receipt = client.result("eth_getTransactionReceipt", [tx_hash])
    assert receipt["status"] == "0x1", receipt
    return receipt["contractAddress"]


def is_timeout(answer: dict[str, Any]) -> bool:
    error = answer.get("error", {})
    return error.get("code") == SERVER_ERROR and TIMEOUT_MESSAGE in error.get("message", "")


@dataclass
class Flood:
    """What a flood did: how many calls were answered, and how (timeouts, refusals)."""

    answers: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, answer: dict[str, Any]) -> None:
        with self.lock:
            self.answers.append(answer)


@contextmanager
def flood_of_calls(clients: list[RawClient], target: str) -> Iterator[Flood]:
    """Each client sends eth_call to `target` back to back, in its own thread, until the block
    exits (then each thread finishes its current call)."""
    flood = Flood()
    stop = threading.Event()

    def keep_calling(client: RawClient) -> None:
        while not stop.is_set():
            flood.record(client.call("eth_call", [{"to": target}, "latest"]))

    threads = [
        threading.Thread(target=keep_calling, args=(client,), daemon=True) for client in clients
    ]
    for thread in threads:
        thread.start()
    try:
        yield flood
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
