"""The event feed (`GET /v1/events`) of both the sentinel and an SN node: a long-poll that
is answered with the contract's logs as soon as a transaction sent through a node's `/rpc`
is mined, not after its own timeout, and answered empty once that timeout is over."""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import requests
from eth_account import Account
from eth_utils import keccak
from rest_client import TIMEOUT, get, join_body

from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_network.chain import SwarmContract, connect

pytest_plugins = ["rest_fixtures"]

FILE_URL_CHANGED = "0x" + keccak(text="FileUrlChanged(address,string)").hex()
LONG_POLL_S = 20.0


def joined_contract(node_url: str, swarm: LocalSwarm) -> SwarmContract:
    account = Account.create()
    body = join_body(account, token=swarm.join_token, file_url="http://127.0.0.1:1")
    requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT).raise_for_status()
    chain = get(f"{node_url}/v1/chain")
    return SwarmContract(
        w3=connect(f"{node_url}/rpc"), address=chain["contract_address"], account=account
    )


def test_a_long_poll_is_answered_when_a_block_is_mined(node_url: str, swarm: LocalSwarm) -> None:
    contract = joined_contract(node_url, swarm)
    latencies = []
    for attempt in range(3):
        head = contract.block_number()
        answer: dict[str, Any] = {}

        def poll(after: int = head, answer: dict[str, Any] = answer) -> None:
            response = requests.get(
                f"{node_url}/v1/events",
                params={"after": after, "timeout": LONG_POLL_S},
                timeout=LONG_POLL_S + TIMEOUT,
            )
            answer.update(response.json(), answered_at=time.monotonic())

        waiter = threading.Thread(target=poll)
        waiter.start()
        time.sleep(0.3)  # the poll is waiting on the node by now
        contract.set_file_url(f"http://127.0.0.1:{2 + attempt}")
        mined_at = time.monotonic()
        waiter.join(LONG_POLL_S + TIMEOUT)
        assert answer["head"] == head + 1
        assert [entry["topics"][0] for entry in answer["logs"]] == [FILE_URL_CHANGED]
        latencies.append(answer["answered_at"] - mined_at)
    # Pushed: well under the poll's 20 s, and under the feed's 1 s backstop read.
    assert statistics.median(latencies) < 0.9, latencies


def test_a_long_poll_without_news_is_answered_empty_after_its_timeout(node_url: str) -> None:
    head = get(f"{node_url}/v1/chain")["block_number"]
    started = time.monotonic()
    response = requests.get(
        f"{node_url}/v1/events", params={"after": head + 5, "timeout": 0.5}, timeout=TIMEOUT
    )
    assert response.status_code == 200
    assert response.json() == {"head": head + 5, "logs": []}
    assert 0.4 < time.monotonic() - started < TIMEOUT


def test_a_malformed_long_poll_is_400(node_url: str) -> None:
    response = requests.get(f"{node_url}/v1/events", params={"after": "x"}, timeout=TIMEOUT)
    assert response.status_code == 400
