"""Conversions between standard Ethereum JSON-RPC JSON and eth-tester's Python values.

eth-tester's py-evm backend serializers return snake_case dicts of raw Python values (ints,
bytes, b"" for "no recipient"). Ethereum clients expect what geth answers: camelCase keys,
quantities as 0x-hex without leading zeros, byte strings as 0x-hex, `null` for absent values.
Everything here is pure (no chain access), so each shape can be unit-tested on its own and the
embedded chain only has to fetch raw values and hand them over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
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

BLOCK_TAGS = frozenset({"latest", "earliest", "pending", "safe", "finalized"})
ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)
BLOOM_BYTES = 256
MAX_UINT256 = 2**256 - 1

BlockId = str | int | bytes  # a tag, a block number, or (EIP-1898) a block hash


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


# ---------------------------------------------------------------------------------------------
# Inbound: JSON params -> Python values
# ---------------------------------------------------------------------------------------------


def unpack_params(params: Sequence[Any], required: int, optional: int = 0) -> list[Any]:
    """Check the positional params count and pad the optional ones with None."""
    if len(params) < required:
        raise invalid_params(f"missing value for required argument {len(params)}")
    if len(params) > required + optional:
        raise invalid_params(f"too many arguments, want at most {required + optional}")
    return list(params) + [None] * (required + optional - len(params))


def parse_quantity(value: Any, name: str) -> int:
    """A QUANTITY below 2**256: 0x-hex string (a plain JSON integer is tolerated)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value[:2] in ("0x", "0X") and 2 < len(value) <= 66:
        try:
            number = int(value[2:], 16)
        except ValueError:
            raise invalid_params(f"{name}: invalid hex quantity {value!r}") from None
    else:
        raise invalid_params(f"{name}: expected a 0x-prefixed hex quantity, got {value!r}")
    if not 0 <= number <= MAX_UINT256:
        raise invalid_params(f"{name}: quantity out of range")
    return number


def parse_data(value: Any, name: str) -> bytes:
    """DATA: a 0x-prefixed hex string with an even number of digits."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise invalid_params(f"{name}: expected 0x-prefixed hex data, got {value!r}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise invalid_params(f"{name}: invalid hex data") from None


def parse_fixed(value: Any, name: str, size: int) -> bytes:
    data = parse_data(value, name)
    if len(data) != size:
        raise invalid_params(f"{name}: expected {size} bytes, got {len(data)}")
    return data


def parse_address(value: Any, name: str) -> bytes:
    """A 20-byte address; the checksum is not enforced (geth does not either)."""
    return parse_fixed(value, name, 20)


def parse_hash(value: Any, name: str) -> bytes:
    return parse_fixed(value, name, 32)


def parse_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise invalid_params(f"{name}: expected true or false, got {value!r}")
    return value


def parse_block_id(value: Any, name: str = "block") -> BlockId:
    """A block tag, a block number, or an EIP-1898 object {blockNumber} / {blockHash}.

    A missing value means "latest", as geth assumes for the optional block argument.
    """
    if value is None:
        return "latest"
    if isinstance(value, str) and value in BLOCK_TAGS:
        return value
    if isinstance(value, Mapping):
        if "blockHash" in value:
            return parse_hash(value["blockHash"], f"{name}.blockHash")
        if "blockNumber" in value:
            return parse_block_id(value["blockNumber"], f"{name}.blockNumber")
        raise invalid_params(f"{name}: expected blockHash or blockNumber")
    return parse_quantity(value, name)


@dataclass(frozen=True)
class CallRequest:
    """The fields of an `eth_call` / `eth_estimateGas` object that execution needs.

    Fee fields are validated but not kept: calls and estimates run at zero gas price (as geth
    does when none is given), so a caller needs no balance to read or to estimate.
    """

    sender: bytes | None
    to: bytes | None
    gas: int | None
    value: int
    data: bytes


CALL_QUANTITY_FIELDS = ("gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "value", "nonce")


def parse_call_request(value: Any) -> CallRequest:
    """Parse a transaction call object; `input` wins over `data`, they must agree if both."""
    if not isinstance(value, Mapping):
        raise invalid_params("transaction: expected an object")
    for field in CALL_QUANTITY_FIELDS:
        if value.get(field) is not None:
            parse_quantity(value[field], f"transaction.{field}")
    data = _call_input(value)
    sender = value.get("from")
    to = value.get("to")
    gas = value.get("gas")
    return CallRequest(
        sender=None if sender is None else parse_address(sender, "transaction.from"),
        to=None if to is None else parse_address(to, "transaction.to"),
        gas=None if gas is None else parse_quantity(gas, "transaction.gas"),
        value=parse_quantity(value.get("value") or 0, "transaction.value"),
        data=data,
    )


def _call_input(value: Mapping[str, Any]) -> bytes:
    data = None if value.get("data") is None else parse_data(value["data"], "transaction.data")
    if value.get("input") is None:
        return data or b""
    given = parse_data(value["input"], "transaction.input")
    if data is not None and data != given:
        raise invalid_params('both "data" and "input" are set and not equal')
    return given


TopicFilter = tuple[frozenset[str] | None, ...]


@dataclass(frozen=True)
class LogFilter:
    """An `eth_getLogs` / `eth_newFilter` criterion. Addresses and topics are lowercase hex
    strings, so they compare directly with the stored JSON log entries."""

    from_block: BlockId
    to_block: BlockId
    block_hash: bytes | None
    addresses: frozenset[str] | None
    topics: TopicFilter

    def matches(self, log: Mapping[str, Any]) -> bool:
        """Address in the set (or any), and each topic position null or one of the OR-list."""
        if self.addresses is not None and log["address"] not in self.addresses:
            return False
        topics = log["topics"]
        if len(self.topics) > len(topics):
            return False
        return all(
            wanted is None or topic in wanted
            for wanted, topic in zip(self.topics, topics, strict=False)
        )


def parse_log_filter(value: Any) -> LogFilter:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise invalid_params("filter: expected an object")
    block_hash = value.get("blockHash")
    if block_hash is not None and (
        value.get("fromBlock") is not None or value.get("toBlock") is not None
    ):
        raise invalid_params("filter: blockHash cannot be combined with fromBlock/toBlock")
    return LogFilter(
        from_block=parse_block_id(value.get("fromBlock"), "filter.fromBlock"),
        to_block=parse_block_id(value.get("toBlock"), "filter.toBlock"),
        block_hash=None if block_hash is None else parse_hash(block_hash, "filter.blockHash"),
        addresses=_parse_filter_addresses(value.get("address")),
        topics=_parse_filter_topics(value.get("topics")),
    )


def _parse_filter_addresses(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    if not values:
        return None
    return frozenset(hex_data(parse_address(item, "filter.address")) for item in values)


def _parse_filter_topics(value: Any) -> TopicFilter:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid_params("filter.topics: expected an array")
    if len(value) > 4:
        raise invalid_params("filter.topics: at most 4 topic positions")
    return tuple(_parse_topic_position(item, index) for index, item in enumerate(value))


def _parse_topic_position(value: Any, index: int) -> frozenset[str] | None:
    name = f"filter.topics[{index}]"
    if value is None:
        return None
    if not isinstance(value, list):
        return frozenset({hex_data(parse_hash(value, name))})
    if not value or any(item is None for item in value):
        return None  # [] or an OR-list containing null matches anything, as in geth
    return frozenset(hex_data(parse_hash(item, name)) for item in value)


def parse_reward_percentiles(value: Any) -> list[float]:
    """Monotonically increasing percentiles in [0, 100], as geth requires."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_params("rewardPercentiles: expected an array")
    percentiles: list[float] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not 0 <= item <= 100:
            raise invalid_params(f"rewardPercentiles: invalid percentile {item!r}")
        if percentiles and item < percentiles[-1]:
            raise invalid_params("rewardPercentiles: must be monotonically increasing")
        percentiles.append(float(item))
    return percentiles


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
