"""No caller can stall the chain: an endless eth_call is cut short, and while calls run (or
flood in from one client) block numbers, other clients' calls and check-ins go on.

The real JSON-RPC server on a free port; the flooding client connects from another loopback
address (`stall_helpers`), as another host would. Before the lanes and bounds, one endless
call held the whole server for about 9 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from chain_helpers import BANK_WEI, ChainEndpoint, ChainServer, deploy_swarm, h
from eth_account import Account
from eth_account.signers.local import LocalAccount
from stall_helpers import (
    ENDLESS_LOOP,
    FLOODER_ADDRESS,
    GAS_LEFT,
    RawClient,
    deploy_runtime,
    flood_of_calls,
    is_timeout,
)

from sentinel.chain.call_bounds import CALL_GAS_CAP, CALL_TIMEOUT_S, CALL_WALL_LIMIT_S
from sentinel.chain.call_queue import MAX_CALLS_PER_CLIENT

# An endless call holds its lane for 1 s of CPU time, at most 5 s on a busy machine: a turn.
TURN_S = CALL_WALL_LIMIT_S
ANSWER_SLACK_S = 1.5  # answering takes a little more than a turn (HTTP, the GIL, the machine)
READ_BOUND_S = 0.5  # what a block number may take while calls run
FLOOD_THREADS = 4


@pytest.fixture
def bank() -> LocalAccount:
    return Account.create()


@pytest.fixture
def server(chain_server: Callable[..., ChainServer], bank: LocalAccount) -> ChainServer:
    return chain_server({bank.address: BANK_WEI})


@pytest.fixture
def loop_contract(server: ChainServer, bank: LocalAccount) -> str:
    return deploy_runtime(RawClient(server.url), bank, ENDLESS_LOOP)


@pytest.fixture
def flooders(server: ChainServer) -> Iterator[list[RawClient]]:
    """One client on another host: several connections, one address."""
    yield [RawClient(server.url, source_ip=FLOODER_ADDRESS) for _ in range(FLOOD_THREADS)]


@pytest.mark.parametrize("method", ["eth_call", "eth_estimateGas"])
def test_endless_loop_is_aborted_within_its_deadline(
    server: ChainServer, loop_contract: str, method: str
) -> None:
    answer, elapsed = RawClient(server.url).timed(method, [{"to": loop_contract}, "latest"])
    assert is_timeout(answer), answer
    assert elapsed < TURN_S + ANSWER_SLACK_S


def test_call_gas_is_capped_as_geth_caps_it(server: ChainServer, bank: LocalAccount) -> None:
    """More gas than the cap (or none) is not refused: the call runs with the cap."""
    client = RawClient(server.url)
    gas_left = deploy_runtime(client, bank, GAS_LEFT)
    for request in ({"to": gas_left, "gas": hex(10**9)}, {"to": gas_left}):
        left = int(client.result("eth_call", [request, "latest"]), 16)
        assert CALL_GAS_CAP - 100_000 < left < CALL_GAS_CAP
    small = int(client.result("eth_call", [{"to": gas_left, "gas": hex(100_000)}, "latest"]), 16)
    assert small < 100_000


def test_estimate_above_the_cap_says_it_exceeds_the_allowance(
    server: ChainServer, loop_contract: str, bank: LocalAccount
) -> None:
    """A loop that runs out of gas before its deadline: geth's "exceeds allowance" answer,
    with the gas it was allowed (the caller's, capped)."""
    answer = RawClient(server.url).call(
        "eth_estimateGas", [{"from": bank.address, "to": loop_contract, "gas": hex(100_000)}]
    )
    assert answer["error"]["code"] == -32000
    assert "gas required exceeds allowance (100000)" in answer["error"]["message"]


def test_block_number_answers_while_endless_calls_run(
    server: ChainServer, loop_contract: str, flooders: list[RawClient]
) -> None:
    reader = RawClient(server.url)
    with flood_of_calls(flooders, loop_contract) as flood:
        time.sleep(0.3)  # the calls thread is busy now
        started = time.monotonic()
        while time.monotonic() - started < 2 * CALL_TIMEOUT_S:
            answer, elapsed = reader.timed("eth_blockNumber", [])
            assert answer["result"] == "0x1"
            assert elapsed < READ_BOUND_S
            time.sleep(0.05)
    assert flood.answers and all(is_timeout(answer) for answer in flood.answers)


def test_another_clients_call_waits_at_most_one_turn(
    server: ChainServer, loop_contract: str, flooders: list[RawClient], bank: LocalAccount
) -> None:
    """A flood from one host, each of its connections claiming to forward for someone else,
    shares that host's turn: another host's call waits for one endless call at most."""
    for number, flooder in enumerate(flooders):
        flooder.forwarded_for = f"10.0.0.{number}"
    caller = RawClient(server.url)
    with flood_of_calls(flooders, loop_contract):
        time.sleep(0.3)
        for _ in range(3):
            answer, elapsed = caller.timed("eth_getBalance", [bank.address, "latest"])
            assert "result" in answer
            answer, elapsed = caller.timed("eth_call", [{"to": bank.address}, "latest"])
            assert answer == {"jsonrpc": "2.0", "id": 1, "result": "0x"}
            assert elapsed < TURN_S + ANSWER_SLACK_S


def test_clients_behind_one_proxy_take_turns(server: ChainServer, loop_contract: str) -> None:
    """Learners behind one SN node share its address; the node names each of them."""
    flooders = [
        RawClient(server.url, forwarded_for="192.0.2.1") for _ in range(MAX_CALLS_PER_CLIENT)
    ]
    learner = RawClient(server.url, forwarded_for="192.0.2.2")
    with flood_of_calls(flooders, loop_contract):
        time.sleep(0.3)
        answer, elapsed = learner.timed("eth_call", [{"to": loop_contract, "data": "0x"}, "latest"])
        assert is_timeout(answer)
        assert elapsed < 2 * TURN_S + ANSWER_SLACK_S  # one turn of the flood, then ours


def test_one_client_may_queue_only_so_many_calls(server: ChainServer, bank: LocalAccount) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": n, "method": "eth_call", "params": [{"to": bank.address}]}
        for n in range(MAX_CALLS_PER_CLIENT + 4)
    ]
    answers = RawClient(server.url).post(batch)
    assert [answer["id"] for answer in answers] == list(range(len(batch)))
    assert [answer.get("result") for answer in answers[:MAX_CALLS_PER_CLIENT]] == [
        "0x"
    ] * MAX_CALLS_PER_CLIENT
    for answer in answers[MAX_CALLS_PER_CLIENT:]:
        assert answer["error"]["code"] == -32005
        assert "limit exceeded" in answer["error"]["message"]


def test_check_in_lands_while_one_client_floods_calls(
    server: ChainServer, bank: LocalAccount, loop_contract: str, flooders: list[RawClient]
) -> None:
    """A learner's check-in (its dry-run eth_call, then the transaction, then the receipt)
    goes through a flood of endless calls in a few turns, not after the flood."""
    swarm = deploy_swarm(ChainEndpoint(kind="embedded", url=server.url, bank=bank), learners=2)
    swarm.configure(min_peers=2, grace_seconds=60)
    with flood_of_calls(flooders, loop_contract) as flood:
        time.sleep(0.3)
        started = time.monotonic()
        swarm.check_in(0, step=0)
        elapsed = time.monotonic() - started
    assert swarm.learners[1].contributions(0)[0].weight_hash == h("weights-0-0")
    assert elapsed < 2 * TURN_S + 2 * ANSWER_SLACK_S  # the flood's turn, the dry run's
    assert len(flood.answers) >= FLOOD_THREADS  # the flood was on all along
