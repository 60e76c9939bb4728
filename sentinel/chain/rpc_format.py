"""Formatting of eth-tester's Python values as standard Ethereum JSON-RPC JSON, and RPC errors.

eth-tester's py-evm backend serializers return snake_case dicts of raw Python values (ints,
bytes, b"" for "no recipient"). Ethereum clients expect what geth answers: camelCase keys,
quantities as 0x-hex without leading zeros, byte strings as 0x-hex, `null` for absent values.
Everything here is pure (no chain access), so each shape can be unit-tested on its own and the
embedded chain only has to fetch raw values and hand them over. The error codes and `RpcError`
live here too; parsing the params of incoming requests is in `rpc_params`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from swarm_network.errors import SwarmError

# JSON-RPC 2.0 error codes, plus the two Ethereum conventions clients rely on.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000  # geth's code for rejected transactions, unknown filters, bad blocks...
EXECUTION_REVERTED = 3  # geth's code for a revert; web3.py turns it into ContractLogicError

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)
BLOOM_BYTES = 256


class RpcError(SwarmError):
    """An error to answer as a JSON-RPC error object instead of a result.

    Raised by the embedded chain for anything the caller did wrong or the chain refused, so the
    server can answer it verbatim while keeping the process (and the chain) alive.
    """

    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        """The JSON-RPC `error` member."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"invalid argument: {message}")


# ---------------------------------------------------------------------------------------------
# Outbound: Python values -> JSON
# ---------------------------------------------------------------------------------------------


def hex_quantity(value: int) -> str:
    """A QUANTITY: 0x-hex, no leading zeros, "0x0" for zero."""
    if value < 0:
        raise ValueError(f"a quantity cannot be negative: {value}")
    return hex(value)


def hex_data(value: bytes) -> str:
    """DATA: every byte as two hex digits, "0x" for empty."""
    return "0x" + bytes(value).hex()


def hex_address(value: bytes | None) -> str | None:
    """An address (lowercase, as geth answers), or None for b"" / None (contract creation)."""
    if not value:
        return None
    return hex_data(value)


def hex_bloom(value: int) -> str:
    """A logs bloom, which py-evm keeps as an int: always 256 bytes on the wire."""
    return hex_data(value.to_bytes(BLOOM_BYTES, "big"))


def hex_word(value: int) -> str:
    """A 32-byte word (storage slot value, topic) from an int."""
    return hex_data(value.to_bytes(32, "big"))


Converter = Callable[[Any], Any]


def _list_of(convert: Converter) -> Converter:
    return lambda values: [convert(value) for value in values]


def _format_access_list(entries: Iterable[Any]) -> list[dict[str, Any]]:
    """py-evm access lists are (address, storage_keys) pairs with int keys."""
    return [
        {"address": hex_address(address), "storageKeys": [hex_word(key) for key in keys]}
        for address, keys in entries
    ]


def _format_authorization_list(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "chainId": hex_quantity(entry["chain_id"]),
            "address": hex_address(entry["address"]),
            "nonce": hex_quantity(entry["nonce"]),
            "yParity": hex_quantity(entry["y_parity"]),
            "r": hex_quantity(entry["r"]),
            "s": hex_quantity(entry["s"]),
        }
        for entry in entries
    ]


def _format_withdrawals(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "index": hex_quantity(entry["index"]),
            "validatorIndex": hex_quantity(entry["validator_index"]),
            "address": hex_address(entry["address"]),
            "amount": hex_quantity(entry["amount"]),
        }
        for entry in entries
    ]


def _optional(convert: Converter) -> Converter:
    return lambda value: None if value is None else convert(value)


# snake_case key from eth-tester -> (camelCase key, converter). Keys not listed are dropped on
# purpose (e.g. eth-tester's `total_difficulty`, a receipt's legacy `state_root`).
TRANSACTION_FIELDS: dict[str, tuple[str, Converter]] = {
    "type": ("type", hex_quantity),
    "hash": ("hash", hex_data),
    "nonce": ("nonce", hex_quantity),
    "block_hash": ("blockHash", _optional(hex_data)),
    "block_number": ("blockNumber", _optional(hex_quantity)),
    "transaction_index": ("transactionIndex", _optional(hex_quantity)),
    "from": ("from", hex_address),
    "to": ("to", hex_address),
    "value": ("value", hex_quantity),
    "gas": ("gas", hex_quantity),
    "data": ("input", hex_data),
    "gas_price": ("gasPrice", hex_quantity),
    "chain_id": ("chainId", hex_quantity),
    "access_list": ("accessList", _format_access_list),
    "max_fee_per_gas": ("maxFeePerGas", hex_quantity),
    "max_priority_fee_per_gas": ("maxPriorityFeePerGas", hex_quantity),
    "max_fee_per_blob_gas": ("maxFeePerBlobGas", hex_quantity),
    "blob_versioned_hashes": ("blobVersionedHashes", _list_of(hex_data)),
    "authorization_list": ("authorizationList", _format_authorization_list),
    "v": ("v", hex_quantity),
    "r": ("r", hex_quantity),
    "s": ("s", hex_quantity),
    "y_parity": ("yParity", hex_quantity),
}

BLOCK_FIELDS: dict[str, tuple[str, Converter]] = {
    "number": ("number", hex_quantity),
    "hash": ("hash", hex_data),
    "parent_hash": ("parentHash", hex_data),
    "nonce": ("nonce", hex_data),
    "sha3_uncles": ("sha3Uncles", hex_data),
    "logs_bloom": ("logsBloom", hex_bloom),
    "transactions_root": ("transactionsRoot", hex_data),
    "receipts_root": ("receiptsRoot", hex_data),
    "state_root": ("stateRoot", hex_data),
    "coinbase": ("miner", hex_data),
    "difficulty": ("difficulty", hex_quantity),
    "mix_hash": ("mixHash", hex_data),
    "size": ("size", hex_quantity),
    "extra_data": ("extraData", hex_data),
    "gas_limit": ("gasLimit", hex_quantity),
    "gas_used": ("gasUsed", hex_quantity),
    "timestamp": ("timestamp", hex_quantity),
    "uncles": ("uncles", _list_of(hex_data)),
    "base_fee_per_gas": ("baseFeePerGas", hex_quantity),
    "withdrawals": ("withdrawals", _format_withdrawals),
    "withdrawals_root": ("withdrawalsRoot", hex_data),
    "parent_beacon_block_root": ("parentBeaconBlockRoot", hex_data),
    "blob_gas_used": ("blobGasUsed", hex_quantity),
    "excess_blob_gas": ("excessBlobGas", hex_quantity),
    "requests_hash": ("requestsHash", hex_data),
}

RECEIPT_FIELDS: dict[str, tuple[str, Converter]] = {
    "type": ("type", hex_quantity),
    "transaction_hash": ("transactionHash", hex_data),
    "transaction_index": ("transactionIndex", hex_quantity),
    "block_hash": ("blockHash", hex_data),
    "block_number": ("blockNumber", hex_quantity),
    "from": ("from", hex_address),
    "to": ("to", hex_address),
    "contract_address": ("contractAddress", hex_address),
    "cumulative_gas_used": ("cumulativeGasUsed", hex_quantity),
    "gas_used": ("gasUsed", hex_quantity),
    "effective_gas_price": ("effectiveGasPrice", hex_quantity),
    "blob_gas_used": ("blobGasUsed", hex_quantity),
    "blob_gas_price": ("blobGasPrice", hex_quantity),
    "status": ("status", hex_quantity),
}


def _apply_fields(raw: Mapping[str, Any], fields: Mapping[str, tuple[str, Converter]]) -> dict:
    return {key: convert(raw[name]) for name, (key, convert) in fields.items() if name in raw}


def format_transaction(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A transaction object as geth answers it (`eth_getTransactionByHash`, full blocks).

    Legacy transactions report type 0x0 and, when EIP-155 protected, the chain id they were
    signed for (derived from v, since py-evm does not keep it as a field).
    """
    result = _apply_fields(raw, TRANSACTION_FIELDS)
    tx_type = raw.get("type") or 0
    result["type"] = hex_quantity(tx_type)
    if tx_type == 0:
        result.pop("yParity", None)
        v = raw["v"]
        if v >= 35:
            result["chainId"] = hex_quantity((v - 35) // 2)
    return result


def format_block(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A block as geth answers it; `transactions` holds hashes or full transaction objects."""
    result = _apply_fields(raw, BLOCK_FIELDS)
    result["transactions"] = [
        format_transaction(tx) if isinstance(tx, Mapping) else hex_data(tx)
        for tx in raw["transactions"]
    ]
    return result


def format_log(raw: Mapping[str, Any], log_index: int) -> dict[str, Any]:
    """A log entry; `log_index` is its position in the block (eth-tester counts per receipt)."""
    return {
        "address": hex_data(raw["address"]),
        "topics": [hex_data(topic) for topic in raw["topics"]],
        "data": hex_data(raw["data"]),
        "blockNumber": hex_quantity(raw["block_number"]),
        "blockHash": hex_data(raw["block_hash"]),
        "transactionHash": hex_data(raw["transaction_hash"]),
        "transactionIndex": hex_quantity(raw["transaction_index"]),
        "logIndex": hex_quantity(log_index),
        "removed": False,
    }


def format_receipt(
    raw: Mapping[str, Any], *, logs_bloom: int, first_log_index: int
) -> dict[str, Any]:
    """A receipt as geth answers it. eth-tester's receipt has no bloom, so it is passed in."""
    result = _apply_fields(raw, RECEIPT_FIELDS)
    result["type"] = hex_quantity(raw.get("type") or 0)
    result["logs"] = [
        format_log(log, first_log_index + offset) for offset, log in enumerate(raw["logs"])
    ]
    result["logsBloom"] = hex_bloom(logs_bloom)
    return result


def revert_reason(data: bytes) -> str | None:
    """The human reason inside revert data: Error(string) text or a Panic code, else None."""
    selector, payload = data[:4], data[4:]
    try:
        if selector == ERROR_STRING_SELECTOR:
            return str(abi_decode(["string"], payload)[0])
        if selector == PANIC_SELECTOR:
            return f"panic code {hex(abi_decode(['uint256'], payload)[0])}"
    except (DecodingError, OverflowError, UnicodeDecodeError):
        return None
    return None


def revert_error(data: bytes) -> RpcError:
    """The error geth answers for a reverted call: code 3, decoded reason, raw data as hex."""
    reason = revert_reason(data)
    message = f"execution reverted: {reason}" if reason is not None else "execution reverted"
    return RpcError(EXECUTION_REVERTED, message, hex_data(data))


def reward_at_percentiles(
    tips_and_gas: Sequence[tuple[int, int]], gas_used: int, percentiles: Sequence[float]
) -> list[int]:
    """geth's fee-history rewards: the tip paid at each gas-weighted percentile of a block.

    `tips_and_gas` holds (effective priority fee, gas used) per transaction; an empty block
    rewards 0 at every percentile.
    """
    if not tips_and_gas:
        return [0 for _ in percentiles]
    ordered = sorted(tips_and_gas)
    rewards: list[int] = []
    index, cumulative = 0, ordered[0][1]
    for percentile in percentiles:
        threshold = gas_used * percentile / 100
        while cumulative < threshold and index < len(ordered) - 1:
            index += 1
            cumulative += ordered[index][1]
        rewards.append(ordered[index][0])
    return rewards
