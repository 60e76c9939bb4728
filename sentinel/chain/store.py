"""The chain's key-value store: py-evm's in-memory store, journaled and all-or-nothing.

Why a store of our own: mining one transaction writes to the store in several steps (the
transaction's state, the pending block, then the block itself and the canonical head). If a
step fails half-way, py-evm leaves the earlier writes and its pending block behind, and every
later transaction is built on that wreck: the chain never mines again. `all_or_nothing` undoes
every write since it began, so a failure leaves the store exactly as it was.

And with a journal, each block's writes go into its journal record, so a restart applies them
instead of re-executing the block (`take_changes`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB

from sentinel.chain.journal import ChainJournalError
from swarm_network.errors import ConfigError

# What `_undo` holds for a key that did not exist when `all_or_nothing` began.
_ABSENT: Final = object()

StoreChanges = tuple[tuple[tuple[bytes, bytes], ...], tuple[bytes, ...]]


class RevertibleMemoryDB(MemoryDB):
    """py-evm's in-memory key-value store that can undo writes and note them for the journal.

    Changes are noted (for `take_changes`) only with `record_changes`: without a journal
    nobody would take them. Only mining writes to the store (reads and eth_call do not), and
    a block that fails to mine has its writes taken back, so each block record holds exactly
    its own block's changes.
    """

    def __init__(self, kv_store: dict[bytes, bytes], *, record_changes: bool) -> None:
        super().__init__(kv_store)
        self._record_changes = record_changes
        self._changes: dict[bytes, bytes | None] = {}
        # Each key's value before the running `all_or_nothing` first wrote it; None outside.
        self._undo: dict[bytes, Any] | None = None

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._remember(key)
        self.kv_store[key] = value
        if self._record_changes:
            self._changes[key] = value

    def __delitem__(self, key: bytes) -> None:
        self._remember(key)
        del self.kv_store[key]
        if self._record_changes:
            self._changes[key] = None

    def _remember(self, key: bytes) -> None:
        if self._undo is not None and key not in self._undo:
            self._undo[key] = self.kv_store.get(key, _ABSENT)

    @contextmanager
    def all_or_nothing(self) -> Iterator[None]:
        """Keep every write made inside, or (if it raises) undo them all, then re-raise."""
        if self._undo is not None:
            raise RuntimeError("all_or_nothing does not nest")
        self._undo = {}
        changes = dict(self._changes)  # empty (taken by the previous block): cheap
        try:
            yield
        except BaseException:
            for key, value in self._undo.items():
                if value is _ABSENT:
                    self.kv_store.pop(key, None)
                else:
                    self.kv_store[key] = value
            self._changes = changes
            raise
        finally:
            self._undo = None

    def take_changes(self) -> StoreChanges:
        """(writes, deletes) since the previous call, and start noting afresh."""
        changes, self._changes = self._changes, {}
        writes = tuple((key, value) for key, value in changes.items() if value is not None)
        deletes = tuple(key for key, value in changes.items() if value is None)
        return writes, deletes


def install_store(chain: Any, *, record_changes: bool) -> RevertibleMemoryDB:
    """Swap the chain's store for a revertible one holding the same (genesis) contents.

    Raises `ChainJournalError` (with `record_changes`, i.e. a journal) or `ConfigError` when
    py-evm was configured with another store, whose writes could be neither undone nor
    journaled.
    """
    database = chain.chaindb.db
    if not isinstance(database, AtomicDB) or type(database.wrapped_db) is not MemoryDB:
        error = ChainJournalError if record_changes else ConfigError
        raise error(
            "the embedded chain needs py-evm's in-memory store (AtomicDB over MemoryDB), found "
            f"{type(database).__name__}; is CHAIN_DB_BACKEND_CLASS set?"
        )
    store = RevertibleMemoryDB(database.wrapped_db.kv_store, record_changes=record_changes)
    database.wrapped_db = store
    return store
