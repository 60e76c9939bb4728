"""eth_call answers kept per block (`sentinel.chain.call_cache`): the same read on the same
state runs the EVM once, a new block or another request runs it again, a failure is never
kept; and over HTTP a read after a transaction sees that transaction."""

from __future__ import annotations

import pytest
from chain_helpers import CHAIN_ID
from eth_account import Account

from sentinel.chain.call_cache import CallCache
from sentinel.chain.core import ChainCore
from sentinel.chain.rpc_params import CallRequest
from swarm_network.chain import SwarmContract, connect

BANK = Account.create()


def _core() -> ChainCore:
    return ChainCore(
        funded_accounts={BANK.address: 10**24},
        chain_id=CHAIN_ID,
        journal_path=None,
        verify_replay=False,
    )


def _request(data: bytes) -> CallRequest:
    return CallRequest(sender=None, to=b"\x11" * 20, gas=None, value=0, data=data)


def _mine_a_transfer(core: ChainCore, nonce: int) -> None:
    tx = {
        "to": Account.create().address,
        "value": 1,
        "gas": 21_000,
        "gasPrice": 10**10,
        "nonce": nonce,
        "chainId": CHAIN_ID,
    }
    core.send_raw_transaction(bytes(BANK.sign_transaction(tx).raw_transaction))


def test_the_same_read_on_the_same_block_runs_once() -> None:
    core, cache = _core(), CallCache()
    runs: list[bytes] = []

    def run(answer: bytes) -> bytes:
        runs.append(answer)
        return answer

    head = core.head()
    assert cache.output(head, _request(b"a"), lambda: run(b"first")) == b"first"
    assert cache.output(head, _request(b"a"), lambda: run(b"again")) == b"first"
    assert cache.output(head, _request(b"b"), lambda: run(b"other")) == b"other"
    assert runs == [b"first", b"other"]
    assert (cache.hits, cache.misses) == (1, 2)

    _mine_a_transfer(core, nonce=0)
    assert core.head().hash != head.hash
    assert cache.output(core.head(), _request(b"a"), lambda: run(b"new state")) == b"new state"


def test_a_failed_read_is_not_kept_and_old_answers_make_room() -> None:
    core, cache = _core(), CallCache(size=2)
    head = core.head()

    def fail() -> bytes:
        raise RuntimeError("reverted")

    with pytest.raises(RuntimeError):
        cache.output(head, _request(b"a"), fail)
    assert cache.output(head, _request(b"a"), lambda: b"ran") == b"ran"
    cache.output(head, _request(b"b"), lambda: b"b")
    cache.output(head, _request(b"c"), lambda: b"c")  # pushes out the least recently used
    assert cache.output(head, _request(b"a"), lambda: b"ran again") == b"ran again"


def test_a_read_after_a_transaction_sees_it(chain_server) -> None:  # type: ignore[no-untyped-def]
    server = chain_server({BANK.address: 10**24})
    contract = SwarmContract.deploy(
        w3=connect(server.url), account=BANK, sentinel_file_url="http://127.0.0.1:1"
    )
    before = [n.address for n in contract.nodes()]
    assert [n.address for n in contract.nodes()] == before  # answered again, the same
    learner = Account.create()
    contract.enroll(learner.address, "learner", "http://127.0.0.1:2")
    assert [n.address for n in contract.nodes()] == [*before, learner.address]
