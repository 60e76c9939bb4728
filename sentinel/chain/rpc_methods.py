"""The JSON-RPC method table: each standard method's parameters parsed, answered from the chain.

Why a layer of its own: every answer here is what geth answers (JSON shapes, error codes,
which malformed parameter is -32602 and which unknown thing is null), so any other Ethereum
endpoint can replace this chain unnoticed. Parameters are parsed in full before anything is
looked up, so a malformed one is always -32602, whatever the chain holds.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Callable
from typing import Any

from eth.abc import BlockAPI, BlockHeaderAPI, StateAPI
from eth_tester.backends.pyevm.serializers import (
    serialize_block,
    serialize_transaction,
    serialize_transaction_receipt,
)

from sentinel.chain import execution, fees
from sentinel.chain.call_cache import CallCache
from sentinel.chain.core import ChainCore
from sentinel.chain.filters import FilterRegistry
from sentinel.chain.rpc_format import (
    SERVER_ERROR,
    RpcError,
    format_block,
    format_receipt,
    format_transaction,
    hex_data,
    hex_quantity,
    hex_word,
    invalid_params,
)
from sentinel.chain.rpc_params import (
    CallRequest,
    LogFilter,
    parse_address,
    parse_block_id,
    parse_bool,
    parse_call_request,
    parse_data,
    parse_hash,
    parse_log_filter,
    parse_quantity,
    parse_reward_percentiles,
    unpack_params,
)

Handler = Callable[[list[Any]], Any]


class RpcMethods:
    """The handlers of every supported method, over one `ChainCore`.

    Not thread-safe, except that the handlers of the methods `rpc_lanes` puts in its READ and
    CALL lanes read only committed blocks and state, so they may run beside mining.
    """

    def __init__(self, core: ChainCore, *, call_timeout_s: float) -> None:
        self._core = core
        self._call_timeout_s = call_timeout_s
        self._call_cache = CallCache()
        self._filters = FilterRegistry()
        self._client_version = _client_version()

    def table(self) -> dict[str, Handler]:
        """Method name -> handler taking the params array, answering a JSON-ready result."""
        core = self._core
        return {
            "web3_clientVersion": _no_params(lambda: self._client_version),
            "net_version": _no_params(lambda: str(core.chain_id)),
            "net_listening": _no_params(lambda: True),
            "eth_chainId": _no_params(lambda: hex_quantity(core.chain_id)),
            "eth_syncing": _no_params(lambda: False),
            "eth_accounts": _no_params(lambda: []),  # the chain holds no keys
            "eth_blockNumber": _no_params(lambda: hex_quantity(core.head_number())),
            "eth_gasPrice": _no_params(lambda: hex_quantity(fees.gas_price(core.chain))),
            "eth_maxPriorityFeePerGas": _no_params(
                lambda: hex_quantity(fees.SUGGESTED_PRIORITY_FEE)
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

    # -----------------------------------------------------------------------------------------
    # State
    # -----------------------------------------------------------------------------------------

    def _account_and_state(self, params: list[Any]) -> tuple[bytes, StateAPI]:
        address_param, block_param = unpack_params(params, 1, 1)
        address = parse_address(address_param, "address")
        return address, self._core.state_at(parse_block_id(block_param))

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
        state = self._core.state_at(parse_block_id(block))
        value = state.get_storage(parse_address(address, "address"), parse_quantity(slot, "slot"))
        return hex_word(value)

    # -----------------------------------------------------------------------------------------
    # Blocks and fees
    # -----------------------------------------------------------------------------------------

    def _get_block_by_number(self, params: list[Any]) -> dict[str, Any] | None:
        block_param, full_param = unpack_params(params, 2)
        block_id = parse_block_id(block_param)
        full = parse_bool(full_param, "full")
        number = self._core.block_number(block_id)
        if number > self._core.head_number():
            return None
        return self._format_block(number, full)

    def _get_block_by_hash(self, params: list[Any]) -> dict[str, Any] | None:
        hash_param, full_param = unpack_params(params, 2)
        block_hash = parse_hash(hash_param, "hash")
        full = parse_bool(full_param, "full")
        try:
            header = self._core.canonical_header_by_hash(block_hash)
        except RpcError:  # unknown, or not canonical: null, as geth answers
            return None
        return self._format_block(header.block_number, full)

    def _format_block(self, number: int, full: bool) -> dict[str, Any]:
        block = self._core.chain.get_canonical_block_by_number(number)
        raw = serialize_block(block, full, is_pending=False)
        raw["extra_data"] = block.header.extra_data  # eth-tester pads it to 32 bytes
        return format_block(raw)

    def _fee_history(self, params: list[Any]) -> dict[str, Any]:
        count_param, newest_param, percentiles_param = unpack_params(params, 2, 1)
        count = parse_quantity(count_param, "blockCount")
        percentiles = parse_reward_percentiles(percentiles_param)
        newest = self._core.header_at(parse_block_id(newest_param, "newestBlock"))
        return fees.fee_history(self._core.chain, count, newest.block_number, percentiles)

    # -----------------------------------------------------------------------------------------
    # Execution and transactions
    # -----------------------------------------------------------------------------------------

    def _call(self, params: list[Any]) -> str:
        header, request = self._call_params(params)
        output = self._call_cache.output(
            header,
            request,
            lambda: execution.call(
                self._core.chain, header, request, timeout_s=self._call_timeout_s
            ),
        )
        return hex_data(output)

    def _estimate_gas(self, params: list[Any]) -> str:
        header, request = self._call_params(params)
        gas = execution.estimate_gas(
            self._core.chain, header, request, timeout_s=self._call_timeout_s
        )
        return hex_quantity(gas)

    def _call_params(self, params: list[Any]) -> tuple[BlockHeaderAPI, CallRequest]:
        """eth_call's and eth_estimateGas's shared params: call object, block, no overrides."""
        tx_param, block_param, overrides = unpack_params(params, 1, 2)
        if overrides:
            raise invalid_params("state overrides are not supported")
        request = parse_call_request(tx_param)
        return self._core.header_at(parse_block_id(block_param)), request

    def _send_raw_transaction(self, params: list[Any]) -> str:
        (raw_param,) = unpack_params(params, 1)
        raw = parse_data(raw_param, "raw transaction")
        return hex_data(self._core.send_raw_transaction(raw))

    def _located(self, params: list[Any]) -> tuple[bytes, BlockAPI, int] | None:
        (hash_param,) = unpack_params(params, 1)
        tx_hash = parse_hash(hash_param, "transaction hash")
        location = self._core.index.location(tx_hash)
        if location is None or location[0] > self._core.head_number():
            return None  # unknown, or in the block being committed
        number, index = location
        return tx_hash, self._core.chain.get_canonical_block_by_number(number), index

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
        chain = self._core.chain
        receipts = block.get_receipts(chain.chaindb)
        raw = serialize_transaction_receipt(
            block, receipts, block.transactions[index], index, False, chain.get_vm()
        )
        receipt = format_receipt(
            raw,
            logs_bloom=receipts[index].bloom,
            first_log_index=sum(len(r.logs) for r in receipts[:index]),
        )
        revert_data = self._core.index.revert_data(tx_hash)
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
        return self._core.index.logs(criteria, first, last)

    def _log_range(self, criteria: LogFilter) -> tuple[int, int]:
        """The blocks a log query covers, refused as geth refuses them."""
        core = self._core
        if criteria.block_hash is not None:
            try:
                number = core.canonical_header_by_hash(criteria.block_hash).block_number
            except RpcError:
                raise RpcError(SERVER_ERROR, "unknown block") from None
            return number, number
        first = core.block_number(criteria.from_block)
        last = min(core.block_number(criteria.to_block), core.head_number())
        if first > last and first <= core.head_number():
            raise RpcError(SERVER_ERROR, "invalid block range params")
        return first, last

    def _new_filter(self, params: list[Any]) -> str:
        (filter_param,) = unpack_params(params, 1)
        criteria = parse_log_filter(filter_param)
        if criteria.block_hash is not None:
            raise invalid_params("filter: blockHash is not allowed in eth_newFilter")
        return self._filters.install(criteria, self._core.head_number() + 1)

    def _new_block_filter(self, params: list[Any]) -> str:
        unpack_params(params, 0)
        return self._filters.install(None, self._core.head_number() + 1)

    def _get_filter_changes(self, params: list[Any]) -> list[Any]:
        """What was mined since the previous poll (geth semantics: never history)."""
        (filter_id,) = unpack_params(params, 1)
        installed = self._filters.get(filter_id)
        head = self._core.head_number()
        first, installed.next_block = installed.next_block, head + 1
        if installed.criteria is None:
            chain = self._core.chain
            return [
                hex_data(chain.get_canonical_block_hash(number))
                for number in range(first, head + 1)
            ]
        criteria = installed.criteria
        low = criteria.from_block if isinstance(criteria.from_block, int) else 0
        high = criteria.to_block if isinstance(criteria.to_block, int) else head
        return self._core.index.logs(criteria, max(first, low), min(high, head))

    def _get_filter_logs(self, params: list[Any]) -> list[dict[str, Any]]:
        (filter_id,) = unpack_params(params, 1)
        installed = self._filters.get(filter_id)
        if installed.criteria is None:
            raise RpcError(SERVER_ERROR, "filter not found")
        first, last = self._log_range(installed.criteria)
        return self._core.index.logs(installed.criteria, first, last)

    def _uninstall_filter(self, params: list[Any]) -> bool:
        (filter_id,) = unpack_params(params, 1)
        return self._filters.uninstall(filter_id)


def _no_params(answer: Callable[[], Any]) -> Handler:
    """A handler of a method without parameters."""

    def handler(params: list[Any]) -> Any:
        unpack_params(params, 0)
        return answer()

    return handler


def _client_version() -> str:
    versions = []
    for package in ("eth-tester", "py-evm"):
        try:
            versions.append(f"{package}-{importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(package)
    return f"SwarmSentinel/{'/'.join(versions)}/python-{platform.python_version()}"
