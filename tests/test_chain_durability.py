"""The embedded chain survives restarts and SIGKILL: its journal rebuilds the very same chain.

A small but varied history (a SwarmLearning deployment, calls emitting logs, a mined revert,
value transfers: tests/journal_helpers.py) is journaled once; every test reopens a copy of that
journal, intact or damaged on purpose. SIGKILL while clients send: tests/test_chain_sigkill.py.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chain_helpers import CHAIN_ID
from eth.chains.base import MiningChain
from eth_utils import ValidationError, keccak
from journal_helpers import (
    ADMIN,
    FRAME,
    FUNDED,
    JOURNAL_LOGGER,
    NODES,
    PAYER,
    SINK,
    History,
    call,
    chain_view,
    frame,
    frames,
    open_chain,
    record_history,
    send,
    set_url_data,
    sign,
)

from sentinel.chain import journal as journal_module
from sentinel.chain.embedded import ChainJournalError, EmbeddedChain, RpcError
from sentinel.chain.journal_records import BlockRecord


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return record_history(tmp_path_factory.mktemp("history") / "chain.journal")


@pytest.fixture
def journal(history: History, tmp_path: Path) -> Path:
    """A private copy of the history's journal, free to damage."""
    path = tmp_path / "chain.journal"
    shutil.copyfile(history.journal, path)
    return path


# ---------------------------------------------------------------------------------------------
# Clean restarts
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("verify_replay", [False, True], ids=["restore-writes", "re-execute"])
def test_reopen_rebuilds_the_same_chain(
    history: History, journal: Path, verify_replay: bool
) -> None:
    chain = open_chain(journal, verify_replay=verify_replay)
    try:
        assert chain_view(chain, history.tx_hashes, history.contract) == history.view
        reverted = call(chain, "eth_getTransactionReceipt", history.tx_hashes[-3])
        assert reverted["status"] == "0x0" and "revertReason" in reverted
        head = history.view["blocks"][-1]
        receipt = send(chain, sign(PAYER, len(NODES) + 1, to=SINK, value=7, gas=21_000))
        assert receipt["status"] == "0x1"
        assert int(receipt["blockNumber"], 16) == int(head["number"], 16) + 1
        new_block = call(chain, "eth_getBlockByNumber", receipt["blockNumber"], False)
        assert new_block["parentHash"] == head["hash"]
    finally:
        chain.close()
    reopened = open_chain(journal)
    try:
        again = call(reopened, "eth_getTransactionReceipt", receipt["transactionHash"])
        assert again == receipt
    finally:
        reopened.close()


def test_both_rebuilds_continue_with_the_same_state(history: History, tmp_path: Path) -> None:
    """A restored store must be complete: the next block has the state a re-executed chain has.

    Block hashes differ (each block gets a fresh timestamp and mix_hash); the roots must not.
    """
    roots = []
    for verify_replay in (False, True):
        path = tmp_path / f"{verify_replay}.journal"
        shutil.copyfile(history.journal, path)
        chain = open_chain(path, verify_replay=verify_replay)
        try:
            url = set_url_data("http://sentinel/v3")
            raws = [
                sign(PAYER, len(NODES) + 1, to=SINK, value=9, gas=21_000),
                sign(ADMIN, len(NODES) + 3, to=history.contract, data=url, gas=300_000),
            ]
            for raw in raws:
                assert send(chain, raw)["status"] == "0x1"
            block = call(chain, "eth_getBlockByNumber", "latest", False)
            roots.append((block["stateRoot"], block["receiptsRoot"], block["transactionsRoot"]))
        finally:
            chain.close()
    assert roots[0] == roots[1]


# ---------------------------------------------------------------------------------------------
# Damaged journals
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "bad-checksum", "zero-filled"])
def test_torn_tail_is_cut_off_with_a_warning(
    history: History, journal: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    data = journal.read_bytes()
    last_offset, _payload = frames(data)[-1]
    if damage == "truncated":  # killed in the middle of writing the last record
        damaged = data[:-5]
        good_end, head_lost = last_offset, True
    elif damage == "bad-checksum":  # the last record's bytes did not all reach the disk
        damaged = data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:]
        good_end, head_lost = last_offset, True
    else:  # the file grew but its new block was never written (power loss)
        damaged = data + bytes(300)
        good_end, head_lost = len(data), False
    journal.write_bytes(damaged)
    last_block = int(history.view["blocks"][-1]["number"], 16)
    with caplog.at_level(logging.WARNING, logger=JOURNAL_LOGGER):
        chain = open_chain(journal)
    try:
        assert any("cut off" in r.getMessage() for r in caplog.records), caplog.text
        assert journal.stat().st_size == good_end
        torn = journal.with_name(f"{journal.name}.torn-{good_end}")
        assert torn.read_bytes() == damaged[good_end:]
        expected_head = last_block - 1 if head_lost else last_block
        assert int(call(chain, "eth_blockNumber"), 16) == expected_head
        head = call(chain, "eth_getBlockByNumber", hex(expected_head), False)
        assert head["hash"] == history.view["blocks"][expected_head]["hash"]
        if head_lost:  # the client never heard of it, so it sends it again
            assert call(chain, "eth_getTransactionReceipt", history.tx_hashes[-1]) is None
            assert send(chain, history.raws[-1])["status"] == "0x1"
        assert send(chain, sign(PAYER, len(NODES) + 1, to=SINK, value=3, gas=21_000))
        head_after = call(chain, "eth_getBlockByNumber", "latest", False)
    finally:
        chain.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=JOURNAL_LOGGER):
        reopened = open_chain(journal)
    try:
        assert not caplog.records
        assert call(reopened, "eth_getBlockByNumber", "latest", False) == head_after
    finally:
        reopened.close()


def test_a_damaged_complete_last_record_is_reported_as_a_lost_block(
    history: History, journal: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A complete last record that fails its checksum may be an acknowledged block damaged on
    disk (a flipped byte), not only a torn write: the start says so loudly, naming the block
    and the transactions it held, so that an operator can have them sent again."""
    data = journal.read_bytes()
    journal.write_bytes(data[:-1] + bytes([data[-1] ^ 0x01]))  # the last byte of the last record
    last_block = int(history.view["blocks"][-1]["number"], 16)
    with caplog.at_level(logging.WARNING, logger=JOURNAL_LOGGER):
        chain = open_chain(journal)
    try:
        assert int(call(chain, "eth_blockNumber"), 16) == last_block - 1
    finally:
        chain.close()
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.CRITICAL]
    assert len(loud) == 1, caplog.text
    assert f"block {last_block} " in loud[0] and "acknowledged" in loud[0]
    assert history.tx_hashes[-1] in loud[0]  # the one transaction of the last block
    assert "cut off" in loud[0]


def test_damage_before_the_last_record_refuses_to_start(journal: Path) -> None:
    data = journal.read_bytes()
    offset, payload = frames(data)[3]  # the genesis record, then blocks 1, 2, 3
    position = offset + FRAME.size + len(payload) // 2
    damaged = data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]
    journal.write_bytes(damaged)
    with pytest.raises(ChainJournalError, match=rf"damaged at byte {offset}.*valid records follow"):
        open_chain(journal)
    assert journal.read_bytes() == damaged  # nothing cut off: the operator decides


@pytest.mark.parametrize("verify_replay", [False, True], ids=["restore-writes", "re-execute"])
def test_a_block_that_rebuilds_differently_refuses_to_start(
    journal: Path, verify_replay: bool
) -> None:
    """Checksums can't catch a record that is well-formed but describes another block."""
    data = journal.read_bytes()
    records = frames(data)
    offset, payload = records[3]
    record = BlockRecord.decode(payload)
    forged = dataclasses.replace(record, mix_hash=bytes(32))
    rewritten = data[:offset] + frame(forged.encode()) + data[offset + FRAME.size + len(payload) :]
    journal.write_bytes(rewritten)
    with pytest.raises(ChainJournalError, match=r"block 3 cannot be rebuilt as recorded.*fork"):
        open_chain(journal, verify_replay=verify_replay)


def test_a_journal_of_another_genesis_is_refused(journal: Path) -> None:
    """Refused untouched: not even a torn tail is cut off a journal that is not ours."""
    with journal.open("ab") as handle:
        handle.write(bytes(100))
    before = journal.read_bytes()
    with pytest.raises(ChainJournalError, match=r"another chain.*chain id 1337 \(configured: 99\)"):
        EmbeddedChain(funded_accounts=FUNDED, chain_id=99, journal_path=journal)
    other_funds = {**FUNDED, PAYER.address: 5}
    with pytest.raises(ChainJournalError, match=rf"funded accounts 0x{PAYER.address[2:].lower()}"):
        EmbeddedChain(funded_accounts=other_funds, chain_id=CHAIN_ID, journal_path=journal)
    assert journal.read_bytes() == before


def test_a_file_that_is_no_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chain.journal"
    path.write_bytes(b"not a journal at all")
    with pytest.raises(ChainJournalError, match="is not a chain journal"):
        open_chain(path)
    assert path.read_bytes() == b"not a journal at all"


def test_a_journal_in_use_is_refused(journal: Path) -> None:
    first = open_chain(journal)
    try:
        with pytest.raises(ChainJournalError, match="in use by another process"):
            open_chain(journal)
    finally:
        first.close()
    open_chain(journal).close()


def test_a_failed_journal_write_stops_the_chain(
    history: History, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block the disk did not take must reach no client, not even by a read."""
    chain = open_chain(journal)
    head = history.view["blocks"][-1]

    def failing_sync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(journal_module, "_sync", failing_sync)
    raw = sign(PAYER, len(NODES) + 1, to=SINK, value=11, gas=21_000)
    with pytest.raises(RpcError, match="chain unavailable.*Input/output error"):
        call(chain, "eth_sendRawTransaction", raw)
    with pytest.raises(RpcError, match="chain unavailable"):
        call(chain, "eth_blockNumber")
    chain.close()
    monkeypatch.undo()
    reopened = open_chain(journal)
    try:
        assert call(reopened, "eth_getBlockByNumber", "latest", False)["hash"] == head["hash"]
        assert send(reopened, raw)["status"] == "0x1"
    finally:
        reopened.close()


# ---------------------------------------------------------------------------------------------
# A block that fails to mine
# ---------------------------------------------------------------------------------------------

Patch = Callable[[Callable[..., Any]], Callable[..., Any]]


def fail_after(original: Callable[..., Any]) -> Callable[..., Any]:
    """py-evm's step done (its writes in the store), then a failure: a bug of ours or its."""

    def patched(self: MiningChain, *args: Any, **kwargs: Any) -> Any:
        original(self, *args, **kwargs)
        raise RuntimeError("injected failure")

    return patched


def refuse(original: Callable[..., Any]) -> Callable[..., Any]:
    """py-evm refusing the block, as it refused a non-canonically encoded transaction."""

    def patched(self: MiningChain, *args: Any, **kwargs: Any) -> Any:
        raise ValidationError("injected refusal")

    return patched


# where mining fails -> (py-evm method, how it fails, what the sender gets)
MINING_FAILURES: dict[str, tuple[str, Patch, type[Exception]]] = {
    "after applying the transaction": ("apply_transaction", fail_after, RuntimeError),
    "block refused": ("mine_block", refuse, RpcError),
    "after storing the block": ("mine_block", fail_after, RuntimeError),
}


@pytest.mark.parametrize("journaled", [True, False], ids=["journaled", "in-memory"])
@pytest.mark.parametrize("failure", sorted(MINING_FAILURES))
def test_a_block_that_fails_to_mine_leaves_no_trace(
    history: History, journal: Path, monkeypatch: pytest.MonkeyPatch, failure: str, journaled: bool
) -> None:
    """Whatever fails while a transaction is mined, the chain is left exactly as it was (its
    store too, down to the last key, and its journal) and the transaction can be sent again.

    Before the fix, a failure left a half-applied pending block that every later transaction
    was built on: the chain never mined again.
    """
    method, patch, raised = MINING_FAILURES[failure]
    if journaled:
        chain = open_chain(journal)
        raw = sign(PAYER, len(NODES) + 1, to=SINK, value=13, gas=21_000)
    else:
        chain = EmbeddedChain(funded_accounts=FUNDED, chain_id=CHAIN_ID)
        raw = sign(PAYER, 0, to=SINK, value=13, gas=21_000)
    tx_hash = "0x" + keccak(bytes.fromhex(raw[2:])).hex()
    try:
        view = chain_view(chain, history.tx_hashes, history.contract)
        head = int(call(chain, "eth_blockNumber"), 16)
        journal_bytes = journal.read_bytes()
        store = dict(chain._core.store.kv_store)  # white-box: the undo must be exact
        monkeypatch.setattr(MiningChain, method, patch(getattr(MiningChain, method)))
        with pytest.raises(raised, match="injected"):
            call(chain, "eth_sendRawTransaction", raw)
        monkeypatch.undo()
        assert chain._core.store.kv_store == store
        assert journal.read_bytes() == journal_bytes
        assert chain_view(chain, history.tx_hashes, history.contract) == view
        assert call(chain, "eth_getBlockByNumber", hex(head + 1), False) is None
        assert call(chain, "eth_getTransactionReceipt", tx_hash) is None
        receipt = send(chain, raw)
        assert receipt["status"] == "0x1"
        assert int(receipt["blockNumber"], 16) == head + 1
        after = chain_view(chain, [*history.tx_hashes, tx_hash], history.contract)
    finally:
        chain.close()
    if not journaled:
        return
    for verify_replay in (False, True):
        reopened = open_chain(journal, verify_replay=verify_replay)
        try:
            assert chain_view(reopened, [*history.tx_hashes, tx_hash], history.contract) == after
        finally:
            reopened.close()
