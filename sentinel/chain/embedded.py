"""The sentinel's embedded chain: py-evm behind standard Ethereum JSON-RPC, in-process.

Why not `EthereumTester` or web3's `EthereumTesterProvider`: their answers are not standard
JSON-RPC (snake_case receipts, no `fromBlock`, `eth_call` needs `from`), they drop the raw revert
data, and their reads validate and re-normalize every value (about 8 ms per block or receipt).
Worse, their log search re-reads every block and scans the chain backwards for each
transaction, so `eth_getLogs` over 300 blocks took 16 s. Here we keep eth-tester's
`PyEVMBackend` (chain set-up) and its serializers, drive py-evm directly, and index
transactions and logs as blocks are mined, so lookups cost the same on block 10 and block
100 000.

Everything eth-tester/py-evm stays inside `sentinel.chain`: callers get only JSON-ready values
or `RpcError`, so any other Ethereum endpoint (anvil, geth) can replace this chain unnoticed.

The parts, one job each:
- `core`: the chain, mining one transaction per block, all or nothing, journaled;
- `admission`: strict decoding and the pool rules a transaction must pass first;
- `store`: py-evm's in-memory store, made revertible and journaled;
- `replay`: rebuilding the chain from its journal (`journal`: the file format) on start;
- `mining`: mining the pending block with a chosen mix_hash, live and in a replay alike;
- `index`: transactions, logs and revert data, indexed as mined;
- `execution`: eth_call and eth_estimateGas, bounded by `call_bounds`; `fees`: gas price
  and fee history;
- `filters`: polling filters; `rpc_methods`: the JSON-RPC method table;
- `rpc_format`: JSON <-> Python values; `rpc_server`: the HTTP front, running each method in
  its lane (`rpc_lanes`), calls queued fairly per client (`call_queue`).

Durability: given a journal path, every mined block is appended to the journal and flushed to
disk before its transaction is answered, and the chain is rebuilt from the journal on start,
with the same block hashes and state. So a SIGKILL at any moment loses no transaction a client
saw confirmed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sentinel.chain.call_bounds import CALL_TIMEOUT_S
from sentinel.chain.core import ChainCore
from sentinel.chain.journal import ChainJournalError
from sentinel.chain.rpc_format import INVALID_PARAMS, METHOD_NOT_FOUND, SERVER_ERROR, RpcError
from sentinel.chain.rpc_lanes import Lane, lane_of
from sentinel.chain.rpc_methods import RpcMethods
from swarm_network.errors import ConfigError

__all__ = ["ChainJournalError", "EmbeddedChain", "RpcError"]


class EmbeddedChain:
    """One in-process chain answering Ethereum JSON-RPC methods with standard JSON.

    Auto-mine: each accepted raw transaction is mined at once into its own block, so a receipt
    exists as soon as `eth_sendRawTransaction` returns, and "pending" state equals "latest".
    The chain holds no keys (`eth_accounts` is empty): nodes sign their own transactions.
    Thread-safe: `handle` serializes with a lock the methods of the CHAIN lane, because py-evm
    is not thread-safe; the others read only committed blocks and state and run beside them
    (`rpc_lanes`). An eth_call or eth_estimateGas is aborted after `call_timeout_s`.

    With `journal_path`, the chain is durable: it is first rebuilt from that journal (created
    if absent), and each later block is journaled before its transaction is answered. A rebuild
    normally applies the store writes each block record carries, checking every block header
    against its record; `verify_replay=True` re-executes every transaction instead and checks
    each re-mined block hash (about ten times slower; also chosen automatically when the
    journal was written by other py-evm/eth-tester versions). Raises `ChainJournalError` when
    the journal belongs to another genesis, is damaged before its last record, or does not
    rebuild the recorded chain exactly: better no chain than a silently different one.
    Call `close()` to release the journal.
    """

    def __init__(
        self,
        *,
        funded_accounts: Mapping[str, int],
        chain_id: int = 1337,
        journal_path: Path | str | None = None,
        verify_replay: bool = False,
        call_timeout_s: float = CALL_TIMEOUT_S,
    ) -> None:
        if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
            raise ConfigError(f"chain id must be a positive integer, got {chain_id!r}")
        self.chain_id = chain_id
        self._lock = threading.Lock()
        self._core = ChainCore(
            funded_accounts=funded_accounts,
            chain_id=chain_id,
            journal_path=None if journal_path is None else Path(journal_path),
            verify_replay=verify_replay,
        )
        self._handlers = RpcMethods(self._core, call_timeout_s=call_timeout_s).table()

    def close(self) -> None:
        """Release the journal; afterwards every call is refused. Safe to call twice."""
        with self._lock:
            self._core.close()

    def handle(self, method: str, params: list[Any] | None) -> Any:
        """Answer one JSON-RPC call: a JSON-ready result, or raise `RpcError`.

        Any other exception is a bug in this package (or in py-evm) and is left to the caller,
        which logs it and answers "internal error"; the chain stays usable (see `core`).
        """
        handler = self._handlers.get(method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")
        if params is None:
            params = []
        if not isinstance(params, list):
            raise RpcError(INVALID_PARAMS, "invalid argument: params must be an array")
        if lane_of(method) is not Lane.CHAIN:
            self._raise_if_unavailable()
            return handler(params)
        with self._lock:
            self._raise_if_unavailable()
            return handler(params)

    def _raise_if_unavailable(self) -> None:
        if self._core.unavailable is not None:
            raise RpcError(SERVER_ERROR, self._core.unavailable)

    @property
    def methods(self) -> list[str]:
        """The supported JSON-RPC method names (for the server's description page)."""
        return sorted(self._handlers)
