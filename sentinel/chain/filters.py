"""Installed polling filters (eth_newFilter, eth_newBlockFilter), dropped when left idle.

Why a registry with expiry: clients install filters and may vanish without uninstalling
them; as geth does, a filter nobody polled for five minutes is dropped, so they cannot pile
up for the life of the sentinel.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from sentinel.chain.rpc_format import SERVER_ERROR, RpcError, hex_quantity
from sentinel.chain.rpc_params import LogFilter

# geth's deadline for filters nobody polls.
FILTER_IDLE_TIMEOUT_S = 300.0


@dataclass
class InstalledFilter:
    """An eth_newFilter (criteria set) or eth_newBlockFilter (criteria None).

    `next_block` is the first block the next poll reports: polls report what was mined since
    the previous one, never history.
    """

    criteria: LogFilter | None
    next_block: int
    last_used: float


class FilterRegistry:
    """The installed filters by id (a hex quantity, counting up from 0x1)."""

    def __init__(self) -> None:
        self._filters: dict[str, InstalledFilter] = {}
        self._ids = itertools.count(1)

    def install(self, criteria: LogFilter | None, next_block: int) -> str:
        """Install a filter whose first poll reports from `next_block` on; its id."""
        self._expire()
        filter_id = hex_quantity(next(self._ids))
        self._filters[filter_id] = InstalledFilter(criteria, next_block, time.monotonic())
        return filter_id

    def get(self, filter_id: object) -> InstalledFilter:
        """The installed filter (now freshly used), or geth's "filter not found" error."""
        self._expire()
        found = self._filters.get(filter_id) if isinstance(filter_id, str) else None
        if found is None:
            raise RpcError(SERVER_ERROR, "filter not found")
        found.last_used = time.monotonic()
        return found

    def uninstall(self, filter_id: object) -> bool:
        """Whether there was such a filter (JSON-RPC answers that bool)."""
        self._expire()
        return isinstance(filter_id, str) and self._filters.pop(filter_id, None) is not None

    def _expire(self) -> None:
        deadline = time.monotonic() - FILTER_IDLE_TIMEOUT_S
        for filter_id in [k for k, f in self._filters.items() if f.last_used < deadline]:
            del self._filters[filter_id]
