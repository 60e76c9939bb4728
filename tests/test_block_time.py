"""Chain time follows the wall clock on the embedded chain, also in a burst of transactions
(one block each): a contract deadline counted in `block.timestamp` passes when it says."""

from __future__ import annotations

import time

import pytest
from chain_helpers import BANK_WEI, serve_embedded_chain
from eth_account import Account
from eth_utils import ValidationError

from sentinel.chain.core import ChainCore
from swarm_network.chain import connect

BURST = 30  # blocks; the chain used to run 1 s ahead per block


def test_a_burst_of_blocks_does_not_run_ahead_of_the_wall_clock() -> None:
    bank = Account.create()
    with serve_embedded_chain({bank.address: BANK_WEI}) as server:
        w3 = connect(server.url)
        first = int(w3.eth.get_block("latest")["number"])
        for nonce in range(BURST):
            tx = {
                "to": bank.address, "value": 0, "gas": 21_000, "gasPrice": 10**10,
                "nonce": nonce, "chainId": w3.eth.chain_id,
            }  # fmt: skip
            w3.eth.send_raw_transaction(bank.sign_transaction(tx).raw_transaction)
        after = time.time()
        blocks = [w3.eth.get_block(n) for n in range(first + 1, first + 1 + BURST)]
    stamps = [int(b["timestamp"]) for b in blocks]
    assert [int(b["number"]) for b in blocks] == list(range(first + 1, first + 1 + BURST))
    assert stamps == sorted(stamps)  # never backwards
    assert stamps[-1] <= after  # never ahead
    assert len(set(stamps)) < BURST  # blocks of one second share it


def test_a_block_before_its_parent_is_still_refused() -> None:
    core = ChainCore(
        funded_accounts={Account.create().address: BANK_WEI},
        chain_id=1337,
        journal_path=None,
        verify_replay=False,
    )
    head = core.chain.get_canonical_head()
    vm_class = core.chain.get_vm_class(core.chain.header)
    vm_class.validate_header(core.chain.header.copy(timestamp=head.timestamp), head)
    with pytest.raises(ValidationError, match="timestamp"):
        vm_class.validate_header(core.chain.header.copy(timestamp=head.timestamp - 1), head)


#: Init code that returns TIMESTAMP as one 32-byte word: what `block.timestamp` is in a call.
TIMESTAMP_CODE = "0x4260005260206000f3"


def test_a_call_sees_the_time_a_transaction_sent_now_would_get() -> None:
    bank = Account.create()
    with serve_embedded_chain({bank.address: BANK_WEI}) as server:
        w3 = connect(server.url)
        tx = {
            "to": bank.address, "value": 0, "gas": 21_000, "gasPrice": 10**10,
            "nonce": 0, "chainId": w3.eth.chain_id,
        }  # fmt: skip
        w3.eth.send_raw_transaction(bank.sign_transaction(tx).raw_transaction)
        head = int(w3.eth.get_block("latest")["timestamp"])
        call_time = int.from_bytes(w3.eth.call({"data": TIMESTAMP_CODE}, "pending"), "big")
        after = time.time()
    # A dry run one second ahead of the block its transaction lands in would pass a deadline
    # that the transaction then misses.
    assert head <= call_time <= after
