"""Where each transaction is, every log, and each revert's data: indexed once, as mined.

Why: eth-tester's lookups re-read every block and scan the chain backwards for each
transaction (`eth_getLogs` over 300 blocks took 16 s). Indexed as blocks are mined, a lookup
costs the same on block 10 and on block 100 000. Revert data is kept here because py-evm's
receipts drop it, and clients read it back from the receipt (`revertReason`).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from eth.abc import BlockAPI, ChainDatabaseAPI

from sentinel.chain.journal_records import RecordedLog
from sentinel.chain.rpc_format import format_log
from sentinel.chain.rpc_params import LogFilter


class ChainIndex:
    """Transactions by hash, logs in block order (JSON-ready), revert data by hash."""

    def __init__(self) -> None:
        self._tx_locations: dict[bytes, tuple[int, int]] = {}
        self._logs: list[dict[str, Any]] = []
        self._log_blocks: list[int] = []  # the block of each entry of _logs, for bisecting
        self._revert_data: dict[bytes, bytes] = {}

    def add_block(
        self,
        number: int,
        block_hash: bytes,
        tx_hashes: Sequence[bytes],
        logs: Sequence[RecordedLog],
        reverts: Sequence[tuple[int, bytes]],
    ) -> None:
        """Index one block, given what a journal record holds: mining and restoring a journaled
        block both know all of it without decoding the block with py-evm."""
        for tx_index, tx_hash in enumerate(tx_hashes):
            self._tx_locations[tx_hash] = (number, tx_index)
        for log_index, entry in enumerate(logs):
            raw = {
                "address": entry.address,
                "topics": entry.topics,
                "data": entry.data,
                "block_number": number,
                "block_hash": block_hash,
                "transaction_hash": tx_hashes[entry.tx_index],
                "transaction_index": entry.tx_index,
            }
            self._logs.append(format_log(raw, log_index))
            self._log_blocks.append(number)
        for tx_index, output in reverts:
            self._revert_data[tx_hashes[tx_index]] = output

    def location(self, tx_hash: bytes) -> tuple[int, int] | None:
        """(block number, index in the block) of a mined transaction, or None."""
        return self._tx_locations.get(tx_hash)

    def revert_data(self, tx_hash: bytes) -> bytes | None:
        """The output of a mined transaction that reverted, or None."""
        return self._revert_data.get(tx_hash)

    def logs(self, criteria: LogFilter, first: int, last: int) -> list[dict[str, Any]]:
        """The logs of blocks `first`..`last` that match, each a fresh copy for the caller."""
        start = bisect.bisect_left(self._log_blocks, first)
        stop = bisect.bisect_right(self._log_blocks, last)
        return [
            {**entry, "topics": list(entry["topics"])}
            for entry in self._logs[start:stop]
            if criteria.matches(entry)
        ]


def block_logs(block: BlockAPI, chaindb: ChainDatabaseAPI) -> tuple[RecordedLog, ...]:
    """Every log a just-mined block emitted, read once from its receipts."""
    receipts = block.get_receipts(chaindb)
    return tuple(
        RecordedLog(
            tx_index,
            entry.address,
            tuple(topic.to_bytes(32, "big") for topic in entry.topics),
            entry.data,
        )
        for tx_index, receipt in enumerate(receipts)
        for entry in receipt.logs
    )
