"""Rebuilding the chain from its journal on start: the same blocks, hashes and state, or none.

Why refuse rather than repair: a journal that does not rebuild the recorded chain exactly
(another genesis, damage before its last record, a block that comes out different) would give
clients a chain that silently differs from the one whose receipts they hold. Better no chain.

Normally each block record's store writes are applied and the block they hold is checked
(fast); `verify_replay`, or a journal written by other py-evm/eth-tester versions (whose store
layout may differ), re-executes every transaction instead and checks each re-mined block hash
(about ten times slower).
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rlp
from eth.abc import MiningChainAPI
from eth.exceptions import PyEVMError, Revert
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError, big_endian_to_int, keccak
from rlp.exceptions import DecodingError, DeserializationError
from trie.exceptions import MissingTrieNode

from sentinel.chain.index import ChainIndex, block_logs
from sentinel.chain.journal import ChainJournal, ChainJournalError
from sentinel.chain.journal_records import BlockRecord, GenesisRecord
from sentinel.chain.mining import mine_pending
from sentinel.chain.rpc_format import hex_data
from sentinel.chain.store import RevertibleMemoryDB

log = logging.getLogger(__name__)

# Field positions in an RLP-encoded block header (the same in every fork).
_HEADER_PARENT_HASH = 0
_HEADER_COINBASE = 2
_HEADER_STATE_ROOT = 3
_HEADER_NUMBER = 8
_HEADER_TIMESTAMP = 11
_HEADER_MIX_HASH = 13
# What can go wrong rebuilding a journaled block; each is reported as a ChainJournalError.
_REPLAY_ERRORS = (
    PyEVMError,
    ValidationError,
    MissingTrieNode,
    KeyError,
    IndexError,
    DecodingError,
    DeserializationError,
    BadSignature,
)


@dataclass(frozen=True)
class _Target:
    """What a replay fills: the chain at its genesis, its store, and its empty index."""

    chain: MiningChainAPI
    store: RevertibleMemoryDB
    index: ChainIndex


def open_journal(
    *,
    chain: MiningChainAPI,
    store: RevertibleMemoryDB,
    index: ChainIndex,
    chain_id: int,
    path: Path,
    genesis_state: Mapping[bytes, Mapping[str, Any]],
    verify_replay: bool,
) -> ChainJournal:
    """Open (or create) the journal of `chain`'s genesis and rebuild every block it holds.

    `chain` must be at its genesis, `store` must be the store installed in it, and `index`
    empty: the rebuilt blocks go into them, as mining would have put them. Raises
    `ChainJournalError` when the journal belongs to another genesis, is damaged before its last
    record, or does not rebuild exactly.
    """
    configured = GenesisRecord(
        chain_id=chain_id,
        funded_accounts=tuple(
            sorted((address, account["balance"]) for address, account in genesis_state.items())
        ),
        genesis_hash=chain.get_canonical_block_hash(0),
        state_format=_state_format(),
    )
    journal = ChainJournal.open(path, configured)
    try:
        same_format = journal.genesis.state_format == configured.state_format
        if not same_format and not verify_replay:
            log.info(
                "chain journal %s was written by %s, this is %s: re-executing every block",
                path,
                journal.genesis.state_format,
                configured.state_format,
            )
        target = _Target(chain=chain, store=store, index=index)
        _replay(target, journal, fast=same_format and not verify_replay)
    except BaseException:
        journal.close()
        raise
    return journal


def _replay(target: _Target, journal: ChainJournal, *, fast: bool) -> None:
    """Rebuild every journaled block on top of genesis, refusing any deviation."""
    chain = target.chain
    started = time.perf_counter()
    parent_hash = chain.get_canonical_block_hash(0)
    number = 0
    for record in journal.records():
        number += 1
        try:
            if record.number != number:
                raise ValidationError(f"the journal records block {record.number} here")
            if fast:
                _restore_block(target, record, parent_hash)
            else:
                _remine_block(target, record)
        except _REPLAY_ERRORS as exc:
            raise ChainJournalError(
                f"chain journal {journal.path}: block {number} cannot be rebuilt as "
                f"recorded ({type(exc).__name__}: {exc}); refusing to start rather than "
                "fork the chain"
            ) from exc
        parent_hash = record.block_hash
    head = chain.get_canonical_head()
    if fast:
        # What mining leaves behind: the pending block on top of the head.
        chain.header = chain.create_header_from_parent(head)
    if head.hash != parent_hash:
        raise ChainJournalError(
            f"chain journal {journal.path}: after block {number} the chain head is "
            f"{hex_data(head.hash)}, not the last journaled block; refusing to start"
        )
    log.info(
        "chain journal %s: %s %d blocks in %.2f s; head %s",
        journal.path,
        "restored" if fast else "re-executed",
        number,
        time.perf_counter() - started,
        hex_data(parent_hash),
    )


def _restore_block(target: _Target, record: BlockRecord, parent_hash: bytes) -> None:
    """Apply a block record's store writes, check the block they hold, and index it.

    The writes come from a checksummed record, but are checked anyway, cheaply (py-evm's
    own decoding would cost more than a millisecond per block): the stored header must
    hash to the recorded hash and carry the recorded parent, number, timestamp, mix_hash
    and coinbase; the block must be canonical, its state root present, and the store must
    place each recorded transaction in it.
    """
    kv_store = target.store.kv_store
    kv_store.update(record.db_writes)
    for key in record.db_deletes:
        kv_store.pop(key, None)
    header_rlp = kv_store.get(record.block_hash)
    if header_rlp is None or keccak(header_rlp) != record.block_hash:
        raise ValidationError("the store holds no header with the recorded hash")
    fields = rlp.decode(header_rlp)
    stored = (
        big_endian_to_int(fields[_HEADER_NUMBER]),
        fields[_HEADER_PARENT_HASH],
        big_endian_to_int(fields[_HEADER_TIMESTAMP]),
        fields[_HEADER_MIX_HASH],
        fields[_HEADER_COINBASE],
    )
    recorded = (record.number, parent_hash, record.timestamp, record.mix_hash, record.coinbase)
    if stored != recorded:
        raise ValidationError(f"the stored header has {stored}, the record {recorded}")
    chaindb = target.chain.chaindb
    if chaindb.get_canonical_block_hash(record.number) != record.block_hash:
        raise ValidationError("the block is not the canonical one at its height")
    if fields[_HEADER_STATE_ROOT] not in kv_store:
        raise ValidationError("its state root is missing from the store")
    tx_hashes = [keccak(raw) for raw in record.transactions]
    for tx_index, tx_hash in enumerate(tx_hashes):
        if chaindb.get_transaction_index(tx_hash) != (record.number, tx_index):
            raise ValidationError(f"the store does not place transaction {tx_index} in it")
    target.index.add_block(record.number, record.block_hash, tx_hashes, record.logs, record.reverts)


def _remine_block(target: _Target, record: BlockRecord) -> None:
    """Re-execute a block record's transactions, mine them as they were mined live, check
    the hash, and index the block.

    Runs py-evm's whole validation (signatures, nonces, balances, block rules); the
    transaction-pool policy of `sentinel.chain.admission` already held when they were
    accepted.
    """
    chain = target.chain
    builder = chain.get_vm().get_transaction_builder()
    chain.header = chain.header.copy(timestamp=record.timestamp)
    reverts = []
    for tx_index, raw in enumerate(record.transactions):
        tx = builder.decode(raw)
        _block, _receipt, computation = chain.apply_transaction(tx)
        if computation.is_error and isinstance(computation.error, Revert):
            reverts.append((tx_index, computation.output))
    block = mine_pending(chain, mix_hash=record.mix_hash, coinbase=record.coinbase)
    if block.hash != record.block_hash:
        raise ValidationError(
            f"re-executing its transactions gives block hash {hex_data(block.hash)}, the "
            f"journal recorded {hex_data(record.block_hash)}"
        )
    target.store.take_changes()  # already in the journal
    tx_hashes = [tx.hash for tx in block.transactions]
    target.index.add_block(
        block.number, block.hash, tx_hashes, block_logs(block, chain.chaindb), reverts
    )


def _state_format() -> str:
    """The software whose store layout block records' writes follow (the journal notes it)."""
    return ", ".join(
        f"{package} {importlib.metadata.version(package)}" for package in ("py-evm", "eth-tester")
    )
