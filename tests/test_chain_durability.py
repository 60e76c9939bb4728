"""The embedded chain survives restarts and SIGKILL: its journal rebuilds the very same chain.

A small but varied history (a SwarmLearning deployment, calls emitting logs, a mined revert,
value transfers) is journaled once; every test reopens a copy of that journal, intact or
damaged on purpose. The last test runs the chain behind its JSON-RPC server in a subprocess,
kills it with SIGKILL while web3 clients are sending, and restarts it.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth.chains.base import MiningChain
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import ValidationError, keccak
from web3 import Web3
from web3.providers.rpc import HTTPProvider

from contracts import load_artifact
from sentinel.chain import journal as journal_module
from sentinel.chain.embedded import ChainJournalError, EmbeddedChain, RpcError
from sentinel.chain.journal import FILE_MAGIC, RECORD_MAGIC
from sentinel.chain.journal_records import BlockRecord

CHAIN_ID = 1337
ADMIN = Account.from_key(keccak(b"durability admin"))
PAYER = Account.from_key(keccak(b"durability payer"))
FUNDED = {ADMIN.address: 10**21, PAYER.address: 10**21}
NODES = [Account.from_key(keccak(f"durability node {i}".encode())).address for i in range(3)]
SINK = Web3.to_checksum_address("0x" + "5a" * 20)
ROLE_LEARNER = 2
ARTIFACT = load_artifact("SwarmLearning")
CODEC = Web3().eth.contract(abi=ARTIFACT["abi"], bytecode=ARTIFACT["bytecode"])
FEES = {"maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9}
FRAME = struct.Struct(">4sII")
JOURNAL_LOGGER = "sentinel.chain.journal"


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def call(chain: EmbeddedChain, method: str, *params: Any) -> Any:
    return chain.handle(method, list(params))


def tx_fields(nonce: int, **fields: Any) -> dict[str, Any]:
    """A complete type-2 transaction: explicit gas and fees, so no node is asked for them."""
    return {"type": 2, "chainId": CHAIN_ID, "nonce": nonce, "value": 0, **FEES, **fields}


def sign(account: LocalAccount, nonce: int, **fields: Any) -> str:
    return "0x" + account.sign_transaction(tx_fields(nonce, **fields)).raw_transaction.hex()


def deploy_data() -> str:
    return CODEC.constructor("http://sentinel").data_in_transaction


def set_url_data(url: str) -> str:
    return CODEC.encode_abi("setFileUrl", [url])


def send(chain: EmbeddedChain, raw: str) -> dict[str, Any]:
    """Send a signed transaction and return its receipt (mined at once)."""
    tx_hash = call(chain, "eth_sendRawTransaction", raw)
    receipt = call(chain, "eth_getTransactionReceipt", tx_hash)
    assert receipt is not None
    return receipt


def open_chain(path: Path, **kwargs: Any) -> EmbeddedChain:
    return EmbeddedChain(funded_accounts=FUNDED, chain_id=CHAIN_ID, journal_path=path, **kwargs)


@dataclass(frozen=True)
class History:
    """A journaled chain, closed, with what it looked like before it was closed."""

    journal: Path
    contract: str
    tx_hashes: list[str]
    raws: list[str]
    view: dict[str, Any]


def chain_view(chain: EmbeddedChain, history_tx_hashes: list[str], contract: str) -> dict[str, Any]:
    """Everything a client can read about the history: blocks, receipts, logs, state."""
    head = int(call(chain, "eth_blockNumber"), 16)
    accounts = [ADMIN.address, PAYER.address, SINK, contract]
    node_call = CODEC.encode_abi("getNode", [NODES[0]])
    return {
        "blocks": [call(chain, "eth_getBlockByNumber", hex(n), True) for n in range(head + 1)],
        "receipts": [call(chain, "eth_getTransactionReceipt", h) for h in history_tx_hashes],
        "transactions": [call(chain, "eth_getTransactionByHash", h) for h in history_tx_hashes],
        "logs": call(chain, "eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest"}),
        "balances": [call(chain, "eth_getBalance", a, "latest") for a in accounts],
        "nonces": [call(chain, "eth_getTransactionCount", a, "latest") for a in accounts],
        "code": call(chain, "eth_getCode", contract, "latest"),
        "storage": [call(chain, "eth_getStorageAt", contract, hex(s), "latest") for s in range(12)],
        "node": call(chain, "eth_call", {"to": contract, "data": node_call}, "latest"),
    }


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, payload) of every record in journal bytes (the genesis record first)."""
    found = []
    offset = len(FILE_MAGIC)
    while offset < len(data):
        marker, length, _checksum = FRAME.unpack_from(data, offset)
        assert marker == RECORD_MAGIC
        found.append((offset, data[offset + FRAME.size : offset + FRAME.size + length]))
        offset += FRAME.size + length
    return found


def frame(payload: bytes) -> bytes:
    """A record frame exactly as the journal writes one: marker, length, CRC32, payload."""
    length = struct.pack(">I", len(payload))
    return RECORD_MAGIC + length + struct.pack(">I", zlib.crc32(length + payload)) + payload


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    path = tmp_path_factory.mktemp("history") / "chain.journal"
    chain = open_chain(path)
    deploy = sign(ADMIN, 0, data=deploy_data(), gas=3 * 10**6)
    raws = [deploy]
    receipts = [send(chain, deploy)]
    contract = Web3.to_checksum_address(receipts[0]["contractAddress"])
    admin_nonce, payer_nonce = 1, 0
    for i, node in enumerate(NODES):
        data = CODEC.encode_abi("enroll", [node, ROLE_LEARNER, f"http://node{i}"])
        raws.append(sign(ADMIN, admin_nonce, to=contract, data=data, gas=300_000))
        admin_nonce += 1
        raws.append(sign(PAYER, payer_nonce, to=SINK, value=10**15 + i, gas=21_000))
        payer_nonce += 1
    # Mined but reverted: its revert reason must come back after a restart too.
    again = CODEC.encode_abi("enroll", [NODES[0], ROLE_LEARNER, "http://again"])
    raws.append(sign(ADMIN, admin_nonce, to=contract, data=again, gas=300_000))
    admin_nonce += 1
    url = set_url_data("http://sentinel/v2")
    raws.append(sign(ADMIN, admin_nonce, to=contract, data=url, gas=300_000))
    raws.append(sign(PAYER, payer_nonce, to=SINK, value=1, gas=21_000))
    receipts += [send(chain, raw) for raw in raws[1:]]
    assert [r["status"] for r in receipts].count("0x0") == 1
    tx_hashes = [r["transactionHash"] for r in receipts]
    view = chain_view(chain, tx_hashes, contract)
    assert len(view["logs"]) >= len(NODES) + 2  # deployment, enrolments, URL change
    chain.close()
    return History(path, contract, tx_hashes, raws, view)


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


# ---------------------------------------------------------------------------------------------
# SIGKILL while clients are sending
# ---------------------------------------------------------------------------------------------

SERVER_SCRIPT = """
import asyncio, json, logging, sys
from aiohttp import web
from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.rpc_server import create_rpc_app

async def main():
    chain = EmbeddedChain(funded_accounts=json.loads(sys.argv[1]), journal_path=sys.argv[2])
    runner = web.AppRunner(create_rpc_app(chain), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()

logging.basicConfig(level=logging.INFO)
asyncio.run(main())
"""


class ChainProcess:
    """The chain behind its JSON-RPC server in a child process, as the sentinel runs it."""

    def __init__(self, journal: Path, log_path: Path) -> None:
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT, json.dumps(FUNDED), str(journal)],
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        assert self.process.stdout is not None
        port = self.process.stdout.readline().strip()
        if not port:
            self.stop()
            raise AssertionError(f"chain process did not start: {log_path.read_text()}")
        self.w3 = Web3(
            HTTPProvider(f"http://127.0.0.1:{int(port)}", request_kwargs={"timeout": 30})
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self._log.close()


@dataclass
class Confirmed:
    tx_hash: str
    block_hash: str
    block_number: int


class Sender(threading.Thread):
    """Sends transactions one after another; keeps every receipt it was given."""

    def __init__(
        self, w3: Web3, account: LocalAccount, build: Callable[[int], dict[str, Any]]
    ) -> None:
        super().__init__(daemon=True)
        self.w3, self.account, self.build = w3, account, build
        self.confirmed: list[Confirmed] = []
        self.nonce = w3.eth.get_transaction_count(account.address, "latest")
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            signed = self.account.sign_transaction(self.build(self.nonce))
            try:
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)
            except Exception:  # the server died under us: stop, keeping what was confirmed
                return
            block_hash = receipt["blockHash"].to_0x_hex()
            self.confirmed.append(
                Confirmed(tx_hash.to_0x_hex(), block_hash, receipt["blockNumber"])
            )
            self.nonce += 1


@pytest.fixture
def chain_processes(tmp_path: Path) -> Iterator[list[ChainProcess]]:
    started: list[ChainProcess] = []
    yield started
    for process in started:
        process.stop()


def test_sigkill_while_sending_loses_no_confirmed_transaction(
    tmp_path: Path, chain_processes: list[ChainProcess]
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    journal = tmp_path / "chain.journal"

    def start() -> ChainProcess:
        chain_processes.append(ChainProcess(journal, tmp_path / "chain.log"))
        return chain_processes[-1]

    server = start()
    deploy = server.w3.eth.send_raw_transaction(sign(ADMIN, 0, data=deploy_data(), gas=3 * 10**6))
    contract = server.w3.eth.get_transaction_receipt(deploy)["contractAddress"]

    def transfer(nonce: int) -> dict[str, Any]:
        return tx_fields(nonce, to=SINK, value=nonce + 1, gas=21_000)

    def set_url(nonce: int) -> dict[str, Any]:
        return tx_fields(nonce, to=contract, data=set_url_data(f"http://s/{nonce}"), gas=300_000)

    confirmed: list[Confirmed] = []
    for _round in range(2):
        senders = [Sender(server.w3, PAYER, transfer), Sender(server.w3, ADMIN, set_url)]
        for sender in senders:
            sender.start()
        target = rng.randint(6, 16)
        deadline = time.monotonic() + 30
        while sum(len(s.confirmed) for s in senders) < target and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.03))  # land the kill anywhere in a transaction's life
        server.kill()
        for sender in senders:
            sender.stopped.set()
            sender.join(timeout=30)
        round_confirmed = [c for s in senders for c in s.confirmed]
        assert len(round_confirmed) >= target, f"seed {seed}"
        confirmed += round_confirmed

        server = start()
        for tx in confirmed:
            receipt = server.w3.eth.get_transaction_receipt(tx.tx_hash)
            assert receipt["blockHash"].to_0x_hex() == tx.block_hash, f"seed {seed}"
            block = server.w3.eth.get_block(tx.block_number)
            assert block["hash"].to_0x_hex() == tx.block_hash, f"seed {seed}"
    # And the restarted chain keeps working, on top of whatever made it to the journal.
    nonce = server.w3.eth.get_transaction_count(PAYER.address, "latest")
    tx_hash = server.w3.eth.send_raw_transaction(sign(PAYER, nonce, to=SINK, value=1, gas=21_000))
    assert server.w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
