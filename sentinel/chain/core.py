"""The chain itself: py-evm set up by eth-tester, mining one transaction per block, journaled.

Why one transaction per block (auto-mine): a receipt exists as soon as eth_sendRawTransaction
returns, and "pending" state equals "latest", so clients never wait for a block. Why py-evm
driven directly: eth-tester validates and re-normalizes every value it reads (about 8 ms per
block or receipt); we keep its `PyEVMBackend` for the chain set-up only.

Mining is all or nothing: a block is mined, journaled (with a journal) and indexed, or, if
anything goes wrong on the way, the store and the pending block are put back as they were and
the next transaction mines as if the failed one had never come. A half-mined block left
behind would otherwise stop the chain from ever mining again.

Not thread-safe: `EmbeddedChain` serializes mining and the methods that change anything.
Reading committed blocks and state is safe beside mining, though: `head()` moves only once a
block is journaled and indexed, readers never look past it, and mining only adds keys to the
store (content-addressed trie nodes, the new block's entries; it deletes none), while an undone
block takes back only keys that no committed block uses.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eth.abc import BlockAPI, BlockHeaderAPI, MiningChainAPI, SignedTransactionAPI, StateAPI
from eth.exceptions import HeaderNotFound, PyEVMError, Revert
from eth_tester import PyEVMBackend
from eth_utils import ValidationError, is_address, to_canonical_address

from sentinel.chain.admission import check_transaction, decode_transaction
from sentinel.chain.block_time import allow_same_second_blocks, next_block_timestamp
from sentinel.chain.index import ChainIndex, block_logs
from sentinel.chain.journal import ChainJournal, ChainJournalError
from sentinel.chain.journal_records import BlockRecord, RecordedLog
from sentinel.chain.mining import mine_pending
from sentinel.chain.replay import open_journal
from sentinel.chain.rpc_format import SERVER_ERROR, RpcError, hex_data
from sentinel.chain.rpc_params import BlockId
from sentinel.chain.store import install_store
from swarm_network.errors import ConfigError

log = logging.getLogger(__name__)

# Pinned so that the genesis block (and its hash) is the same on every start.
GENESIS_TIMESTAMP = 1_735_689_600  # 2025-01-01T00:00:00Z
# Who mines: nobody (the fees' tips are burnt with the zero address).
COINBASE = b"\x00" * 20


class ChainCore:
    """One chain: its blocks and state, the pending block, its index and its journal.

    With `journal_path`, the chain is rebuilt from that journal first (see
    `sentinel.chain.replay`) and each later block is journaled before anyone hears of it.
    """

    def __init__(
        self,
        *,
        funded_accounts: Mapping[str, int],
        chain_id: int,
        journal_path: Path | None,
        verify_replay: bool,
    ) -> None:
        self.chain_id = chain_id
        genesis_state = _genesis_state(funded_accounts)
        self._backend = PyEVMBackend(
            genesis_parameters=PyEVMBackend.generate_genesis_params(
                overrides={"timestamp": GENESIS_TIMESTAMP}
            ),
            genesis_state=genesis_state,
        )
        # eth-tester's chain class hard-codes its own id; py-evm reads `self.chain_id` for the
        # CHAINID opcode, so an instance attribute is enough. (The default fork is Prague.)
        self.chain.chain_id = chain_id
        allow_same_second_blocks(self.chain)
        self.index = ChainIndex()
        # Set when the chain must stop answering: closed, or a block could not be journaled.
        self.unavailable: str | None = None
        self.store = install_store(self.chain, record_changes=journal_path is not None)
        self._journal: ChainJournal | None = None
        if journal_path is not None:
            self._journal = open_journal(
                chain=self.chain,
                store=self.store,
                index=self.index,
                chain_id=chain_id,
                path=journal_path,
                genesis_state=genesis_state,
                verify_replay=verify_replay,
            )
        # The newest block that is journaled and indexed: what every reader sees as the head.
        self._committed_head = self.chain.get_canonical_head()

    @property
    def chain(self) -> MiningChainAPI:
        """py-evm's chain (eth-tester's class): blocks, state and the pending block."""
        return self._backend.chain

    def close(self) -> None:
        """Release the journal and refuse every later call. Safe to call twice."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        self.unavailable = self.unavailable or "the chain is closed"

    # -----------------------------------------------------------------------------------------
    # Reading blocks and state
    # -----------------------------------------------------------------------------------------

    def head(self) -> BlockHeaderAPI:
        """The newest committed block (the block being mined, if any, is not yet the head)."""
        return self._committed_head

    def head_number(self) -> int:
        return self.head().block_number

    def block_number(self, block_id: BlockId) -> int:
        """Resolve a tag or number; with auto-mine, "pending" state is the latest block's.

        A number past the head is returned as is: some callers answer null for it.
        """
        if isinstance(block_id, bytes):
            return self.canonical_header_by_hash(block_id).block_number
        if block_id == "earliest":
            return 0
        if isinstance(block_id, str):
            return self.head_number()
        return block_id

    def canonical_header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI:
        """The header of a canonical block, or geth's -32000 error (unknown or not canonical)."""
        try:
            header = self.chain.get_block_header_by_hash(block_hash)
        except HeaderNotFound:
            header = None
        if header is None or header.block_number > self.head_number():  # or not yet committed
            raise RpcError(SERVER_ERROR, f"header for hash {hex_data(block_hash)} not found")
        if self.chain.get_canonical_block_hash(header.block_number) != block_hash:
            raise RpcError(SERVER_ERROR, f"hash {hex_data(block_hash)} is not canonical")
        return header

    def header_at(self, block_id: BlockId) -> BlockHeaderAPI:
        """The header of a mined block, or geth's "header not found"."""
        number = self.block_number(block_id)
        if number > self.head_number():
            raise RpcError(SERVER_ERROR, "header not found")
        return self.chain.get_canonical_block_header_by_number(number)

    def state_at(self, block_id: BlockId) -> StateAPI:
        return self.chain.get_vm(at_header=self.header_at(block_id)).state

    # -----------------------------------------------------------------------------------------
    # Mining
    # -----------------------------------------------------------------------------------------

    def send_raw_transaction(self, raw: bytes) -> bytes:
        """Admit a signed transaction and mine it alone in a new block; its hash.

        Raises `RpcError` for a transaction refused (nothing changed then) or for a block the
        journal could not take (the chain is unavailable from then on). Any other exception is
        a bug, and leaves the chain unchanged too.
        """
        builder = self.chain.get_vm().get_transaction_builder()
        tx = decode_transaction(builder, raw)
        check_transaction(
            tx, chain_id=self.chain_id, state=self.chain.get_vm().state, pending=self.chain.header
        )
        block = self._mine_transaction(tx)
        log.debug("mined tx %s in block %d", hex_data(tx.hash), block.number)
        return tx.hash

    def _mine_transaction(self, tx: SignedTransactionAPI) -> BlockAPI:
        """Apply `tx` to the pending block, mine, journal and index the block: all or nothing.

        Whatever fails on the way (py-evm refusing the block, a bug here or in py-evm, the
        journal), the store and the pending block are put back as they were and the exception
        goes on to the caller: the next transaction mines as if this one had never come. The
        index is filled only once the block is journaled (it cannot fail: dict appends).
        """
        pending = self.chain.header
        try:
            with self.store.all_or_nothing():
                self._refresh_pending_timestamp()
                try:
                    _block, _receipt, computation = self.chain.apply_transaction(tx)
                except (ValidationError, PyEVMError) as exc:
                    raise RpcError(SERVER_ERROR, f"invalid transaction: {exc}") from None
                block = self._mine_applied(tx)
                logs = block_logs(block, self.chain.chaindb)
                reverts: tuple[tuple[int, bytes], ...] = ()
                if computation.is_error and isinstance(computation.error, Revert):
                    reverts = ((0, computation.output),)
                if self._journal is not None:
                    self._journal_block(block, reverts, logs)
        except BaseException:
            self.chain.header = pending
            raise
        self.index.add_block(block.number, block.hash, [tx.hash], logs, reverts)
        self._committed_head = block.header
        return block

    def _mine_applied(self, tx: SignedTransactionAPI) -> BlockAPI:
        """Mine the block holding the just-applied `tx`.

        py-evm refusing the block means a check before applying was missing, so it is logged
        with its traceback; the sender gets "invalid transaction", as for a refused apply.
        """
        try:
            # Post-merge eth-tester mines with a random mix_hash (it stands for prevrandao).
            return mine_pending(self.chain, mix_hash=os.urandom(32), coinbase=COINBASE)
        except (ValidationError, PyEVMError) as exc:
            log.exception("mining transaction %s failed; its block is undone", hex_data(tx.hash))
            raise RpcError(SERVER_ERROR, f"invalid transaction: cannot be mined: {exc}") from None

    def _refresh_pending_timestamp(self) -> None:
        """Stamp the block about to be mined with the time it is mined.

        py-evm stamps the next block when the previous one is mined, so after an idle hour
        a transaction would carry an hour-old `block.timestamp`, which breaks contract
        deadlines. A burst of transactions (one block each) shares its second
        (`sentinel.chain.block_time`).
        """
        timestamp = next_block_timestamp(self.head().timestamp)
        self.chain.header = self.chain.header.copy(timestamp=timestamp)

    def _journal_block(
        self,
        block: BlockAPI,
        reverts: tuple[tuple[int, bytes], ...],
        logs: tuple[RecordedLog, ...],
    ) -> None:
        """Append the just-mined block to the journal, flushed, before anyone hears of it.

        If that fails the chain stops answering at all: the journal may or may not hold the
        block (a failed flush may still reach the disk), so no client may see either chain.
        """
        assert self._journal is not None
        writes, deletes = self.store.take_changes()
        record = BlockRecord(
            number=block.number,
            block_hash=block.hash,
            timestamp=block.header.timestamp,
            mix_hash=block.header.mix_hash,
            coinbase=block.header.coinbase,
            transactions=tuple(tx.encode() for tx in block.transactions),
            reverts=reverts,
            db_writes=writes,
            db_deletes=deletes,
            logs=logs,
        )
        try:
            self._journal.append(record)
        except ChainJournalError as exc:
            self.unavailable = (
                f"chain unavailable: {exc}. Restart the sentinel once the disk is fixed."
            )
            log.critical("%s", self.unavailable)
            raise RpcError(SERVER_ERROR, self.unavailable) from None


def _genesis_state(funded_accounts: Mapping[str, int]) -> dict[bytes, dict[str, Any]]:
    """Exactly the given balances: eth-tester's default accounts (well-known keys) get none."""
    state: dict[bytes, dict[str, Any]] = {}
    for address, balance in funded_accounts.items():
        if not isinstance(address, str) or not is_address(address):
            raise ConfigError(f"funded account {address!r} is not a valid address")
        if isinstance(balance, bool) or not isinstance(balance, int) or balance < 0:
            raise ConfigError(f"balance of {address} must be a non-negative int (wei)")
        state[to_canonical_address(address)] = {
            "balance": balance,
            "nonce": 0,
            "code": b"",
            "storage": {},
        }
    return state
