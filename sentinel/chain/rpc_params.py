"""Parsing of incoming JSON-RPC request parameters into the Python values the chain works with.

Ethereum clients send what geth accepts: positional params, quantities and byte strings as
0x-hex, EIP-1898 block objects, call objects and log filters in camelCase. Each parser checks its
value and raises an `invalid_params` error naming the offending argument, so the embedded chain
only ever sees well-formed values. Everything here is pure (no chain access).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sentinel.chain.rpc_format import hex_data, invalid_params

BLOCK_TAGS = frozenset({"latest", "earliest", "pending", "safe", "finalized"})
MAX_UINT256 = 2**256 - 1

BlockId = str | int | bytes  # a tag, a block number, or (EIP-1898) a block hash


_HEX_DIGITS = re.compile(r"[0-9a-fA-F]+")


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
        # Not int(text, 16) alone: it also takes spaces, underscores, signs and a second "0x".
        if not _HEX_DIGITS.fullmatch(value, 2):
            raise invalid_params(f"{name}: invalid hex quantity {value!r}")
        number = int(value[2:], 16)
    else:
        raise invalid_params(f"{name}: expected a 0x-prefixed hex quantity, got {value!r}")
    if not 0 <= number <= MAX_UINT256:
        raise invalid_params(f"{name}: quantity out of range")
    return number


def parse_data(value: Any, name: str) -> bytes:
    """DATA: a 0x-prefixed hex string with an even number of digits."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise invalid_params(f"{name}: expected 0x-prefixed hex data, got {value!r}")
    # Not bytes.fromhex alone: it also takes whitespace between the digits.
    if len(value) % 2 or (len(value) > 2 and not _HEX_DIGITS.fullmatch(value, 2)):
        raise invalid_params(f"{name}: invalid hex data")
    return bytes.fromhex(value[2:])


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
