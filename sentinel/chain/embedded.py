"""The sentinel's embedded chain: eth-tester's py-evm backend answering standard JSON-RPC.

Why not `EthereumTester` or web3's `EthereumTesterProvider`: their answers are not standard
JSON-RPC (snake_case receipts, no `fromBlock`, `eth_call` needs `from`), they drop the raw revert
data, and their reads validate and re-normalize every value (about 8 ms per block or receipt).
Worse, their log search re-reads every block and scans the chain backwards for each
transaction, so `eth_getLogs` over 300 blocks took 16 s. Here we keep eth-tester's
`PyEVMBackend` (chain set-up, mining) and its serializers, drive py-evm directly for execution,
and index transactions and logs as blocks are mined, so lookups cost the same on block 10 and
block 100 000.

Everything eth-tester/py-evm stays inside this module: callers get only JSON-ready values or
`RpcError`, so any other Ethereum endpoint (anvil, geth) can replace this chain unnoticed.
"""

from __future__ import annotations

import bisect
import importlib.metadata
import itertools
import logging
import platform
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eth.abc import BlockAPI, BlockHeaderAPI, ComputationAPI, SignedTransactionAPI, StateAPI
from eth.exceptions import HeaderNotFound, PyEVMError, Revert, VMError
from eth.vm.spoof import SpoofTransaction
from eth_keys.exceptions import BadSignature
from eth_tester import PyEVMBackend
from eth_tester.backends.pyevm.serializers import (
    serialize_block,
    serialize_log,
    serialize_transaction,
    serialize_transaction_receipt,
)
from eth_utils import ValidationError, is_address, to_canonical_address
from rlp.exceptions import DecodingError, DeserializationError

from sentinel.chain.rpc_format import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    SERVER_ERROR,
    BlockId,
    CallRequest,
    LogFilter,
    RpcError,
    format_block,
    format_log,
    format_receipt,
    format_transaction,
    hex_data,
    hex_quantity,
    hex_word,
    invalid_params,
    parse_address,
    parse_block_id,
    parse_bool,
    parse_call_request,
    parse_data,
    parse_hash,
    parse_log_filter,
    parse_quantity,
    parse_reward_percentiles,
    revert_error,
    reward_at_percentiles,
    unpack_params,
)
from swarm_network.errors import ConfigError

__all__ = ["EmbeddedChain", "RpcError"]

log = logging.getLogger(__name__)

# Pinned so that the genesis block (and its hash) is the same on every start.
GENESIS_TIMESTAMP = 1_735_689_600  # 2025-01-01T00:00:00Z
# The tip we suggest (eth_maxPriorityFeePerGas); geth's and anvil's default suggestion.
SUGGESTED_PRIORITY_FEE = 10**9
ZERO_ADDRESS = b"\x00" * 20
BLOB_TX_TYPE = 3
MAX_FEE_HISTORY_BLOCKS = 1024
# eth_estimateGas answers at most this much above the least gas that works.
GAS_ESTIMATE_TOLERANCE = 1000
CALL_STIPEND = 2300
# Filters nobody polled for this long are dropped, as geth does (its deadline is 5 minutes).
FILTER_IDLE_TIMEOUT_S = 300.0

Handler = Callable[[list[Any]], Any]


@dataclass
class _Filter:
    """An installed eth_newFilter (criteria set) or eth_newBlockFilter (criteria None)."""

    criteria: LogFilter | None
    next_block: int
    last_used: float


class EmbeddedChain:
    """One in-process chain answering Ethereum JSON-RPC methods with standard JSON.

    Auto-mine: each accepted raw transaction is mined at once into its own block, so a receipt
    exists as soon as `eth_sendRawTransaction` returns, and "pending" state equals "latest".
    The chain holds no keys (`eth_accounts` is empty): nodes sign their own transactions.
    Thread-safe: `handle` serializes every call with a lock, because eth-tester is not.
    """

    def __init__(self, *, funded_accounts: Mapping[str, int], chain_id: int = 1337) -> None:
        if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
            raise ConfigError(f"chain id must be a positive integer, got {chain_id!r}")
        self.chain_id = chain_id
        self._lock = threading.Lock()
        self._backend = PyEVMBackend(
            genesis_parameters=PyEVMBackend.generate_genesis_params(
                overrides={"timestamp": GENESIS_TIMESTAMP}
            ),
            genesis_state=_genesis_state(funded_accounts),
        )
        # eth-tester's chain class hard-codes its own id; py-evm reads `self.chain_id` for the
        # CHAINID opcode, so an instance attribute is enough. (The default fork is Prague.)
        self._chain.chain_id = chain_id
        self._tx_locations: dict[bytes, tuple[int, int]] = {}
        self._logs: list[dict[str, Any]] = []
        self._log_blocks: list[int] = []
        self._revert_data: dict[bytes, bytes] = {}
        self._filters: dict[str, _Filter] = {}
        self._filter_ids = itertools.count(1)
        self._handlers = self._build_handlers()
        self._client_version = _client_version()

    @property
    def _chain(self) -> Any:
        return self._backend.chain

    # -----------------------------------------------------------------------------------------
    # Entry point
    # -----------------------------------------------------------------------------------------

    def handle(self, method: str, params: list[Any] | None) -> Any:
        """Answer one JSON-RPC call: a JSON-ready result, or raise `RpcError`.

        Any other exception is a bug in this module (or in py-evm) and is left to the caller,
        which logs it and answers "internal error".
        """
        handler = self._handlers.get(method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")
        if params is None:
            params = []
        if not isinstance(params, list):
            raise RpcError(INVALID_PARAMS, "invalid argument: params must be an array")
        with self._lock:
            return handler(params)

    @property
    def methods(self) -> list[str]:
        """The supported JSON-RPC method names (for the server's description page)."""
        return sorted(self._handlers)

    def _build_handlers(self) -> dict[str, Handler]:
        return {
            "web3_clientVersion": lambda p: self._no_params(p, self._client_version),
            "net_version": lambda p: self._no_params(p, str(self.chain_id)),
            "net_listening": lambda p: self._no_params(p, True),
            "eth_chainId": lambda p: self._no_params(p, hex_quantity(self.chain_id)),
            "eth_syncing": lambda p: self._no_params(p, False),
            "eth_accounts": lambda p: self._no_params(p, []),
            "eth_blockNumber": lambda p: self._no_params(p, hex_quantity(self._head_number())),
            "eth_gasPrice": lambda p: self._no_params(p, hex_quantity(self._gas_price())),
            "eth_maxPriorityFeePerGas": lambda p: self._no_params(
                p, hex_quantity(SUGGESTED_PRIORITY_FEE)
            ),
            "eth_getBalance": self._get_balance,
            "eth_getTransactionCount": self._get_transaction_count,
            "eth_getCode": self._get_code,
            "eth_getStorageAt": self._get_storage_at,
            "eth_feeHistory": self._fee_history,
            "eth_call": self._call,
            "eth_estimateGas": self._estimate_gas,
            "eth_sendRawTransaction": self._send_raw_transaction,
            "eth_getTransactionReceipt": self._get_transaction_receipt,
            "eth_getTransactionByHash": self._get_transaction_by_hash,
            "eth_getBlockByNumber": self._get_block_by_number,
            "eth_getBlockByHash": self._get_block_by_hash,
            "eth_getLogs": self._get_logs,
            "eth_newFilter": self._new_filter,
            "eth_newBlockFilter": self._new_block_filter,
            "eth_getFilterChanges": self._get_filter_changes,
            "eth_getFilterLogs": self._get_filter_logs,
            "eth_uninstallFilter": self._uninstall_filter,
        }

    @staticmethod
    def _no_params(params: list[Any], result: Any) -> Any:
        unpack_params(params, 0)
        return result

    # -----------------------------------------------------------------------------------------
    # Blocks and state
    # -----------------------------------------------------------------------------------------

    def _head(self) -> BlockHeaderAPI:
        return self._chain.get_canonical_head()

    def _head_number(self) -> int:
        return self._head().block_number

    def _gas_price(self) -> int:
        """Legacy price suggestion: next block's base fee plus the suggested tip (as geth)."""
        return self._chain.header.base_fee_per_gas + SUGGESTED_PRIORITY_FEE

    def _block_number(self, block_id: BlockId) -> int:
        """Resolve a tag or number; with auto-mine, "pending" state is the latest block's."""
        if isinstance(block_id, bytes):
            return self._canonical_header_by_hash(block_id).block_number
        if block_id == "earliest":
            return 0
        if isinstance(block_id, str):
            return self._head_number()
        return block_id

    def _canonical_header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI:
        try:
            header = self._chain.get_block_header_by_hash(block_hash)
        except HeaderNotFound:
            raise RpcError(
                SERVER_ERROR, f"header for hash {hex_data(block_hash)} not found"
            ) from None
        if self._chain.get_canonical_block_hash(header.block_number) != block_hash:
            raise RpcError(SERVER_ERROR, f"hash {hex_data(block_hash)} is not canonical")
        return header

    def _header_at(self, block_id: BlockId) -> BlockHeaderAPI:
        number = self._block_number(block_id)
        if number > self._head_number():
            raise RpcError(SERVER_ERROR, "header not found")
        return self._chain.get_canonical_block_header_by_number(number)

    def _state_at(self, block_id: BlockId) -> StateAPI:
        return self._chain.get_vm(at_header=self._header_at(block_id)).state

    def _account_and_state(self, params: list[Any]) -> tuple[bytes, StateAPI]:
        address, block = unpack_params(params, 1, 1)
        return parse_address(address, "address"), self._state_at(parse_block_id(block))

    def _get_balance(self, params: list[Any]) -> str:
        address, state = self._account_and_state(params)
        return hex_quantity(state.get_balance(address))

    def _get_transaction_count(self, params: list[Any]) -> str:
        address, state = self._account_and_state(params)
        return hex_quantity(state.get_nonce(address))

    def _get_code(self, params: list[Any]) -> str:
        address, state = self._account_and_state(params)
        return hex_data(state.get_code(address))

    def _get_storage_at(self, params: list[Any]) -> str:
        address, slot, block = unpack_params(params, 2, 1)
        state = self._state_at(parse_block_id(block))
        value = state.get_storage(parse_address(address, "address"), parse_quantity(slot, "slot"))
        return hex_word(value)

    def _get_block_by_number(self, params: list[Any]) -> dict[str, Any] | None:
        block_id, full = unpack_params(params, 2)
        number = self._block_number(parse_block_id(block_id))
        if number > self._head_number():
            return None
        block = self._chain.get_canonical_block_by_number(number)
        return self._format_block(block, parse_bool(full, "full"))

    def _get_block_by_hash(self, params: list[Any]) -> dict[str, Any] | None:
        block_hash, full = unpack_params(params, 2)
        try:
            header = self._canonical_header_by_hash(parse_hash(block_hash, "hash"))
        except RpcError:
            return None
        block = self._chain.get_canonical_block_by_number(header.block_number)
        return self._format_block(block, parse_bool(full, "full"))

    @staticmethod
    def _format_block(block: BlockAPI, full: bool) -> dict[str, Any]:
        raw = serialize_block(block, full, is_pending=False)
        raw["extra_data"] = block.header.extra_data  # eth-tester pads it to 32 bytes
        return format_block(raw)

    # -----------------------------------------------------------------------------------------
    # Fees
    # -----------------------------------------------------------------------------------------

    def _fee_history(self, params: list[Any]) -> dict[str, Any]:
        count_param, newest_param, percentiles_param = unpack_params(params, 2, 1)
        count = min(parse_quantity(count_param, "blockCount"), MAX_FEE_HISTORY_BLOCKS)
        percentiles = parse_reward_percentiles(percentiles_param)
        newest = self._header_at(parse_block_id(newest_param, "newestBlock")).block_number
        if count == 0:
            return {"oldestBlock": hex_quantity(0), "baseFeePerGas": [], "gasUsedRatio": []}
        oldest = max(0, newest - count + 1)
        headers = [
            self._chain.get_canonical_block_header_by_number(number)
            for number in range(oldest, newest + 1)
        ]
        base_fees = [h.base_fee_per_gas for h in headers] + [self._next_base_fee(newest)]
        result: dict[str, Any] = {
            "oldestBlock": hex_quantity(oldest),
            "baseFeePerGas": [hex_quantity(fee) for fee in base_fees],
            "gasUsedRatio": [h.gas_used / h.gas_limit for h in headers],
        }
        if percentiles:
            result["reward"] = [
                [hex_quantity(tip) for tip in self._block_rewards(h, percentiles)] for h in headers
            ]
        return result

    def _next_base_fee(self, number: int) -> int:
        if number >= self._head_number():
            return self._chain.header.base_fee_per_gas
        return self._chain.get_canonical_block_header_by_number(number + 1).base_fee_per_gas

    def _block_rewards(self, header: BlockHeaderAPI, percentiles: list[float]) -> list[int]:
        block = self._chain.get_canonical_block_by_number(header.block_number)
        receipts = block.get_receipts(self._chain.chaindb)
        base_fee = header.base_fee_per_gas
        tips_and_gas = []
        previous_cumulative = 0
        for tx, receipt in zip(block.transactions, receipts, strict=True):
            tip = min(tx.max_priority_fee_per_gas, tx.max_fee_per_gas - base_fee)
            tips_and_gas.append((tip, receipt.gas_used - previous_cumulative))
            previous_cumulative = receipt.gas_used
        return reward_at_percentiles(tips_and_gas, header.gas_used, percentiles)

    # -----------------------------------------------------------------------------------------
    # Execution without a transaction: eth_call, eth_estimateGas
    # -----------------------------------------------------------------------------------------

    @contextmanager
    def _next_block_state(self, block_id: BlockId) -> Iterator[StateAPI]:
        """A throw-away state on top of the given block, with zero base fee.

        It is the block the next transaction would land in (number, timestamp), so a call
        predicts what a transaction sent now would do. Zero base fee plus zero gas price lets
        a caller without balance (or without `from`) read and estimate, as on geth.
        """
        header = self._header_at(block_id)
        with self._chain.get_vm(at_header=header).in_costless_state() as state:
            yield state

    def _spoof(self, request: CallRequest, state: StateAPI) -> SignedTransactionAPI:
        sender = request.sender or ZERO_ADDRESS
        gas_limit = state.gas_limit
        unsigned = self._chain.get_transaction_builder().create_unsigned_transaction(
            nonce=state.get_nonce(sender),
            gas_price=0,
            gas=min(request.gas or gas_limit, gas_limit),
            to=request.to or b"",
            value=request.value,
            data=request.data,
        )
        return SpoofTransaction(unsigned, from_=sender)

    def _call(self, params: list[Any]) -> str:
        tx_param, block_param, overrides = unpack_params(params, 1, 2)
        if overrides:
            raise invalid_params("state overrides are not supported")
        request = parse_call_request(tx_param)
        with self._next_block_state(parse_block_id(block_param)) as state:
            computation = _run_transaction(state, self._spoof(request, state))
        _raise_for_computation(computation)
        return hex_data(computation.output)

    def _estimate_gas(self, params: list[Any]) -> str:
        tx_param, block_param, overrides = unpack_params(params, 1, 2)
        if overrides:
            raise invalid_params("state overrides are not supported")
        request = parse_call_request(tx_param)
        with self._next_block_state(parse_block_id(block_param)) as state:
            try:
                gas = _gas_needed(state, self._spoof(request, state))
            except Revert as exc:
                raise revert_error(_revert_bytes(exc)) from None
            except VMError as exc:
                raise RpcError(
                    SERVER_ERROR, f"gas required exceeds allowance ({state.gas_limit}): {exc!r}"
                ) from None
            except ValidationError as exc:
                raise RpcError(SERVER_ERROR, f"insufficient funds for transfer: {exc}") from None
        return hex_quantity(gas)

    # -----------------------------------------------------------------------------------------
    # Transactions
    # -----------------------------------------------------------------------------------------

    def _send_raw_transaction(self, params: list[Any]) -> str:
        (raw_param,) = unpack_params(params, 1)
        tx = self._decode_transaction(parse_data(raw_param, "raw transaction"))
        self._check_transaction(tx)
        self._refresh_pending_timestamp()
        try:
            _block, _receipt, computation = self._chain.apply_transaction(tx)
        except (ValidationError, PyEVMError) as exc:
            raise RpcError(SERVER_ERROR, f"invalid transaction: {exc}") from None
        (block_hash,) = self._backend.mine_blocks(1)
        self._index_block(self._chain.get_block_by_hash(block_hash))
        if computation.is_error and isinstance(computation.error, Revert):
            self._revert_data[tx.hash] = computation.output
        log.debug("mined tx %s in block %d", hex_data(tx.hash), self._head_number())
        return hex_data(tx.hash)

    def _decode_transaction(self, raw: bytes) -> SignedTransactionAPI:
        if not raw:
            raise invalid_params("raw transaction: empty")
        if raw[0] == BLOB_TX_TYPE:
            raise RpcError(SERVER_ERROR, "transaction type not supported: blob transactions")
        builder = self._chain.get_vm().get_transaction_builder()
        try:
            return builder.decode(raw)
        except (DecodingError, DeserializationError, PyEVMError, ValidationError) as exc:
            raise RpcError(SERVER_ERROR, f"invalid raw transaction: {exc}") from None

    def _check_transaction(self, tx: SignedTransactionAPI) -> None:
        """Refuse, with geth's messages, what a node's pool would refuse before mining.

        py-evm would refuse most of these too, but with messages that do not say which rule
        broke; and it does not check the chain id at all (replays from other chains).
        """
        self._check_chain_id(tx)
        sender = self._check_signature(tx)
        state = self._chain.get_vm().state
        self._check_nonce(tx, sender, state.get_nonce(sender))
        self._check_gas(tx)
        self._check_fees(tx, sender)
        cost = tx.gas * tx.max_fee_per_gas + tx.value
        balance = state.get_balance(sender)
        if balance < cost:
            raise RpcError(
                SERVER_ERROR,
                f"insufficient funds for gas * price + value: address {hex_data(sender)} "
                f"have {balance} want {cost}",
            )

    def _check_chain_id(self, tx: SignedTransactionAPI) -> None:
        if tx.chain_id is None:
            raise RpcError(
                SERVER_ERROR, "only replay-protected (EIP-155) transactions allowed over RPC"
            )
        if tx.chain_id != self.chain_id:
            raise RpcError(
                SERVER_ERROR,
                f"invalid chain id for signer: have {tx.chain_id} want {self.chain_id}",
            )

    @staticmethod
    def _check_signature(tx: SignedTransactionAPI) -> bytes:
        """Recover the sender. The full signature rules (low s...) are checked once, by py-evm
        when it applies the transaction: each check costs milliseconds of elliptic-curve math
        in pure Python, the main cost of a transaction here."""
        try:
            return tx.sender
        except (BadSignature, ValidationError) as exc:
            raise RpcError(SERVER_ERROR, f"invalid sender: {exc}") from None

    @staticmethod
    def _check_nonce(tx: SignedTransactionAPI, sender: bytes, expected: int) -> None:
        if tx.nonce == expected:
            return
        which = "low" if tx.nonce < expected else "high"
        detail = "" if which == "low" else " (this chain mines at once and queues nothing)"
        raise RpcError(
            SERVER_ERROR,
            f"nonce too {which}: address {hex_data(sender)}, tx: {tx.nonce} state: {expected}"
            f"{detail}",
        )

    def _check_gas(self, tx: SignedTransactionAPI) -> None:
        if tx.gas > self._chain.header.gas_limit:
            raise RpcError(SERVER_ERROR, "exceeds block gas limit")
        if tx.gas < tx.intrinsic_gas:
            raise RpcError(
                SERVER_ERROR, f"intrinsic gas too low: have {tx.gas}, want {tx.intrinsic_gas}"
            )

    def _check_fees(self, tx: SignedTransactionAPI, sender: bytes) -> None:
        if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
            raise RpcError(
                SERVER_ERROR,
                "max priority fee per gas higher than max fee per gas: "
                f"address {hex_data(sender)}, maxPriorityFeePerGas: "
                f"{tx.max_priority_fee_per_gas}, maxFeePerGas: {tx.max_fee_per_gas}",
            )
        base_fee = self._chain.header.base_fee_per_gas
        if tx.max_fee_per_gas < base_fee:
            raise RpcError(
                SERVER_ERROR,
                f"max fee per gas less than block base fee: address {hex_data(sender)}, "
                f"maxFeePerGas: {tx.max_fee_per_gas}, baseFee: {base_fee}",
            )

    def _refresh_pending_timestamp(self) -> None:
        """Stamp the block about to be mined with the time it is mined.

        py-evm stamps the next block when the previous one is mined, so after an idle hour
        a transaction would carry an hour-old `block.timestamp`, which breaks contract
        deadlines. Timestamps still must increase, so a burst of transactions (one block
        each) runs ahead of the wall clock by at most one second per block.
        """
        parent = self._head()
        timestamp = max(int(time.time()), parent.timestamp + 1)
        self._chain.header = self._chain.header.copy(timestamp=timestamp)

    def _index_block(self, block: BlockAPI) -> None:
        """Remember where each transaction is and every log, once, as the block is mined."""
        receipts = block.get_receipts(self._chain.chaindb)
        log_index = 0
        for tx_index, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
            self._tx_locations[tx.hash] = (block.number, tx_index)
            for entry in receipt.logs:
                raw = serialize_log(block, tx, tx_index, entry, log_index, is_pending=False)
                self._logs.append(format_log(raw, log_index))
                self._log_blocks.append(block.number)
                log_index += 1

    def _located(self, params: list[Any]) -> tuple[bytes, BlockAPI, int] | None:
        (hash_param,) = unpack_params(params, 1)
        tx_hash = parse_hash(hash_param, "transaction hash")
        location = self._tx_locations.get(tx_hash)
        if location is None:
            return None
        number, index = location
        return tx_hash, self._chain.get_canonical_block_by_number(number), index

    def _get_transaction_by_hash(self, params: list[Any]) -> dict[str, Any] | None:
        located = self._located(params)
        if located is None:
            return None
        _tx_hash, block, index = located
        raw = serialize_transaction(block, block.transactions[index], index, is_pending=False)
        return format_transaction(raw)

    def _get_transaction_receipt(self, params: list[Any]) -> dict[str, Any] | None:
        located = self._located(params)
        if located is None:
            return None
        tx_hash, block, index = located
        receipts = block.get_receipts(self._chain.chaindb)
        raw = serialize_transaction_receipt(
            block, receipts, block.transactions[index], index, False, self._chain.get_vm()
        )
        receipt = format_receipt(
            raw,
            logs_bloom=receipts[index].bloom,
            first_log_index=sum(len(r.logs) for r in receipts[:index]),
        )
        revert_data = self._revert_data.get(tx_hash)
        if revert_data is not None:
            receipt["revertReason"] = hex_data(revert_data)  # as Besu reports it
        return receipt

    # -----------------------------------------------------------------------------------------
    # Logs and filters
    # -----------------------------------------------------------------------------------------

    def _get_logs(self, params: list[Any]) -> list[dict[str, Any]]:
        (filter_param,) = unpack_params(params, 1)
        criteria = parse_log_filter(filter_param)
        first, last = self._log_range(criteria)
        return self._matching_logs(criteria, first, last)

    def _log_range(self, criteria: LogFilter) -> tuple[int, int]:
        if criteria.block_hash is not None:
            try:
                number = self._canonical_header_by_hash(criteria.block_hash).block_number
            except RpcError:
                raise RpcError(SERVER_ERROR, "unknown block") from None
            return number, number
        first = self._block_number(criteria.from_block)
        last = min(self._block_number(criteria.to_block), self._head_number())
        if first > last and first <= self._head_number():
            raise RpcError(SERVER_ERROR, "invalid block range params")
        return first, last

    def _matching_logs(self, criteria: LogFilter, first: int, last: int) -> list[dict[str, Any]]:
        start = bisect.bisect_left(self._log_blocks, first)
        stop = bisect.bisect_right(self._log_blocks, last)
        return [
            {**entry, "topics": list(entry["topics"])}
            for entry in self._logs[start:stop]
            if criteria.matches(entry)
        ]

    def _install_filter(self, criteria: LogFilter | None) -> str:
        self._expire_filters()
        filter_id = hex_quantity(next(self._filter_ids))
        self._filters[filter_id] = _Filter(criteria, self._head_number() + 1, time.monotonic())
        return filter_id

    def _new_filter(self, params: list[Any]) -> str:
        (filter_param,) = unpack_params(params, 1)
        criteria = parse_log_filter(filter_param)
        if criteria.block_hash is not None:
            raise invalid_params("filter: blockHash is not allowed in eth_newFilter")
        return self._install_filter(criteria)

    def _new_block_filter(self, params: list[Any]) -> str:
        unpack_params(params, 0)
        return self._install_filter(None)

    def _filter(self, params: list[Any]) -> _Filter:
        (filter_id,) = unpack_params(params, 1)
        self._expire_filters()
        found = self._filters.get(filter_id) if isinstance(filter_id, str) else None
        if found is None:
            raise RpcError(SERVER_ERROR, "filter not found")
        found.last_used = time.monotonic()
        return found

    def _get_filter_changes(self, params: list[Any]) -> list[Any]:
        """What was mined since the previous poll (geth semantics: never history)."""
        installed = self._filter(params)
        head = self._head_number()
        first, installed.next_block = installed.next_block, head + 1
        if installed.criteria is None:
            return [
                hex_data(self._chain.get_canonical_block_hash(number))
                for number in range(first, head + 1)
            ]
        criteria = installed.criteria
        low = criteria.from_block if isinstance(criteria.from_block, int) else 0
        high = criteria.to_block if isinstance(criteria.to_block, int) else head
        return self._matching_logs(criteria, max(first, low), min(high, head))

    def _get_filter_logs(self, params: list[Any]) -> list[dict[str, Any]]:
        installed = self._filter(params)
        if installed.criteria is None:
            raise RpcError(SERVER_ERROR, "filter not found")
        first, last = self._log_range(installed.criteria)
        return self._matching_logs(installed.criteria, first, last)

    def _uninstall_filter(self, params: list[Any]) -> bool:
        (filter_id,) = unpack_params(params, 1)
        self._expire_filters()
        return isinstance(filter_id, str) and self._filters.pop(filter_id, None) is not None

    def _expire_filters(self) -> None:
        deadline = time.monotonic() - FILTER_IDLE_TIMEOUT_S
        for filter_id in [k for k, f in self._filters.items() if f.last_used < deadline]:
            del self._filters[filter_id]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


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


def _client_version() -> str:
    versions = []
    for package in ("eth-tester", "py-evm"):
        try:
            versions.append(f"{package}-{importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(package)
    return f"SwarmSentinel/{'/'.join(versions)}/python-{platform.python_version()}"


def _execute_with_gas(state: StateAPI, tx: SignedTransactionAPI, gas: int) -> ComputationAPI:
    """Run `tx` with the given gas limit and undo its effects."""
    snapshot = state.snapshot()
    try:
        return state.apply_transaction(SpoofTransaction(tx, gas=gas))
    finally:
        state.revert(snapshot)


def _gas_needed(state: StateAPI, tx: SignedTransactionAPI) -> int:
    """The least gas (within GAS_ESTIMATE_TOLERANCE) with which `tx` succeeds.

    py-evm's own estimator bisects from the intrinsic gas to the block gas limit: about 16
    executions. Like geth, we run once with the whole limit, learn the gas actually burnt, and
    search only just above it (the 63/64 call rule and the SSTORE stipend can require a little
    more than was burnt): usually 3 or 4 executions. Raises the VMError of a call that fails
    even with the block gas limit (a Revert carries the revert data).
    """
    intrinsic = tx.intrinsic_gas
    if not _execute_with_gas(state, tx, intrinsic).is_error:
        return intrinsic
    cap = state.gas_limit
    full = _execute_with_gas(state, tx, cap)
    if full.is_error:
        raise full.error
    low = intrinsic + full.get_gas_used() - 1  # less than what was burnt cannot succeed
    high = cap
    optimistic = min(cap, (low + 1 + CALL_STIPEND) * 64 // 63)
    if _execute_with_gas(state, tx, optimistic).is_error:
        low = optimistic
    else:
        high = optimistic
    while high - low > GAS_ESTIMATE_TOLERANCE:
        middle = (low + high) // 2
        if _execute_with_gas(state, tx, middle).is_error:
            low = middle
        else:
            high = middle
    return high


def _run_transaction(state: StateAPI, tx: SignedTransactionAPI) -> ComputationAPI:
    try:
        return state.apply_transaction(tx)
    except ValidationError as exc:
        raise RpcError(SERVER_ERROR, f"insufficient funds for transfer: {exc}") from None


def _revert_bytes(error: Revert) -> bytes:
    data = error.args[0] if error.args else b""
    return data if isinstance(data, bytes) else b""


def _raise_for_computation(computation: ComputationAPI) -> None:
    """Turn a failed execution into geth's answer: code 3 for a revert, -32000 otherwise."""
    if not computation.is_error:
        return
    error = computation.error
    if isinstance(error, Revert):
        raise revert_error(computation.output)
    raise RpcError(SERVER_ERROR, f"execution failed: {type(error).__name__}: {error}")
