"""Which lane each JSON-RPC method runs in, so that no kind of request waits behind another.

Why: with every request in one queue, one endless eth_call held every other client for 9 s
(see "The chain's JSON-RPC lanes" in docs/ARCHITECTURE.md). Three lanes, each its own thread:

- READ: answers from committed blocks and state (block number, blocks, receipts, logs,
  balances, nonces, code). They need no lock: see `core` on reading beside mining.
- CALL: eth_call and eth_estimateGas, also on committed state and so without the lock, but
  each bounded (`call_bounds`) and queued fairly per client (`call_queue`).
- CHAIN: what changes the chain or mutable bookkeeping (transactions, filters) and the fee
  methods, which read the pending block: serialized by the chain's lock.

A method not listed is unknown; its error needs no chain, so it goes to READ.
"""

from __future__ import annotations

import enum


class Lane(enum.Enum):
    READ = "read"
    CALL = "call"
    CHAIN = "chain"


CALL_METHODS = frozenset({"eth_call", "eth_estimateGas"})
CHAIN_METHODS = frozenset(
    {
        "eth_sendRawTransaction",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_feeHistory",
        "eth_newFilter",
        "eth_newBlockFilter",
        "eth_getFilterChanges",
        "eth_getFilterLogs",
        "eth_uninstallFilter",
    }
)


def lane_of(method: object) -> Lane:
    """The lane of a request's method (anything that is not a known method name: READ)."""
    if not isinstance(method, str):
        return Lane.READ
    if method in CALL_METHODS:
        return Lane.CALL
    if method in CHAIN_METHODS:
        return Lane.CHAIN
    return Lane.READ
