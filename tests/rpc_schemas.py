"""What standard Ethereum JSON-RPC answers look like, and how two answers' shapes differ.
Not a test module.

Every answer is checked against the standard encoding of each field (QUANTITY: 0x and no
leading zeros; DATA: even-length hex; 32-byte hashes; 20-byte lowercase addresses...), and two
answers of the same request (ours and anvil's) must have the same keys except the extras
documented here, each with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from rpc_helpers import JsonDict

QUANTITY = re.compile(r"^0x(0|[1-9a-f][0-9a-f]*)$")
DATA = re.compile(r"^0x([0-9a-f]{2})*$")
HASH32 = re.compile(r"^0x[0-9a-f]{64}$")
ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
BYTES8 = re.compile(r"^0x[0-9a-f]{16}$")
BLOOM = re.compile(r"^0x[0-9a-f]{512}$")
DECIMAL = re.compile(r"^(0|[1-9][0-9]*)$")

Kind = Any  # a regex, "bool"/"ratio"/"string"/"null", a tuple of alternatives, [kind], or a schema
Schema = dict[str, Kind]

LOG: Schema = {
    "address": ADDRESS,
    "topics": [HASH32],
    "data": DATA,
    "blockNumber": QUANTITY,
    "blockHash": HASH32,
    "blockTimestamp": QUANTITY,
    "transactionHash": HASH32,
    "transactionIndex": QUANTITY,
    "logIndex": QUANTITY,
    "removed": "bool",
}
ACCESS_LIST_ENTRY: Schema = {"address": ADDRESS, "storageKeys": [HASH32]}
TRANSACTION: Schema = {
    "type": QUANTITY,
    "hash": HASH32,
    "nonce": QUANTITY,
    "blockHash": HASH32,
    "blockNumber": QUANTITY,
    "blockTimestamp": QUANTITY,
    "transactionIndex": QUANTITY,
    "from": ADDRESS,
    "to": (ADDRESS, "null"),
    "value": QUANTITY,
    "gas": QUANTITY,
    "gasPrice": QUANTITY,
    "input": DATA,
    "chainId": QUANTITY,
    "accessList": [ACCESS_LIST_ENTRY],
    "maxFeePerGas": QUANTITY,
    "maxPriorityFeePerGas": QUANTITY,
    "v": QUANTITY,
    "r": QUANTITY,
    "s": QUANTITY,
    "yParity": QUANTITY,
}
WITHDRAWAL: Schema = {
    "index": QUANTITY,
    "validatorIndex": QUANTITY,
    "address": ADDRESS,
    "amount": QUANTITY,
}
BLOCK: Schema = {
    "number": QUANTITY,
    "hash": HASH32,
    "parentHash": HASH32,
    "nonce": BYTES8,
    "sha3Uncles": HASH32,
    "logsBloom": BLOOM,
    "transactionsRoot": HASH32,
    "receiptsRoot": HASH32,
    "stateRoot": HASH32,
    "miner": ADDRESS,
    "difficulty": QUANTITY,
    "totalDifficulty": QUANTITY,
    "mixHash": HASH32,
    "size": QUANTITY,
    "extraData": DATA,
    "gasLimit": QUANTITY,
    "gasUsed": QUANTITY,
    "timestamp": QUANTITY,
    "uncles": [HASH32],
    "baseFeePerGas": QUANTITY,
    "withdrawals": [WITHDRAWAL],
    "withdrawalsRoot": HASH32,
    "parentBeaconBlockRoot": HASH32,
    "blobGasUsed": QUANTITY,
    "excessBlobGas": QUANTITY,
    "requestsHash": HASH32,
    "transactions": ([HASH32], [TRANSACTION]),
}
RECEIPT: Schema = {
    "type": QUANTITY,
    "transactionHash": HASH32,
    "transactionIndex": QUANTITY,
    "blockHash": HASH32,
    "blockNumber": QUANTITY,
    "blockTimestamp": "integer",  # anvil only, and as a JSON number: not a QUANTITY either
    "from": ADDRESS,
    "to": (ADDRESS, "null"),
    "contractAddress": (ADDRESS, "null"),
    "cumulativeGasUsed": QUANTITY,
    "gasUsed": QUANTITY,
    "effectiveGasPrice": QUANTITY,
    "blobGasPrice": QUANTITY,
    "status": QUANTITY,
    "logs": [LOG],
    "logsBloom": BLOOM,
    "revertReason": DATA,
}
FEE_HISTORY: Schema = {
    "oldestBlock": QUANTITY,
    "baseFeePerGas": [QUANTITY],
    "gasUsedRatio": ["ratio"],
    "baseFeePerBlobGas": [QUANTITY],
    "blobGasUsedRatio": ["ratio"],
    "reward": [[QUANTITY]],
}
SCHEMAS: dict[str, Schema] = {
    "log": LOG,
    "transaction": TRANSACTION,
    "block": BLOCK,
    "receipt": RECEIPT,
    "feeHistory": FEE_HISTORY,
    "withdrawal": WITHDRAWAL,
    "accessListEntry": ACCESS_LIST_ENTRY,
}

# Keys only one side sends. Everything else must be present on both sides or on neither.
ANVIL_EXTRAS: dict[str, dict[str, str]] = {
    "log": {
        "blockTimestamp": "optional in execution-apis' Log schema (geth 1.16+ sends it too); "
        "ours omits it, which the spec allows, clients read the block's timestamp",
    },
    "transaction": {
        "blockTimestamp": "not in execution-apis' transaction schema: an anvil/reth addition",
    },
    "receipt": {
        "blockTimestamp": "not in execution-apis' receipt schema: an anvil addition",
        "blobGasPrice": "the spec sends it for blob (type-3) transactions only; anvil on all",
    },
    "block": {
        "totalDifficulty": "optional and meaningless after the merge; geth stopped sending it",
    },
    "feeHistory": {
        "baseFeePerBlobGas": "optional in the spec (geth sends it since Cancun); ours has no "
        "blob transactions and omits it",
        "blobGasUsedRatio": "optional in the spec, as baseFeePerBlobGas",
    },
}
OURS_EXTRAS: dict[str, dict[str, str]] = {
    "receipt": {
        "revertReason": "the revert data of a mined failed transaction, as Besu reports it; "
        "not in the spec, harmless to clients that ignore unknown keys",
    },
}


def kind_problems(kind: Kind, value: Any, path: str) -> list[str]:
    """Every way `value` is not of `kind` (empty if it is)."""
    if isinstance(kind, tuple):
        alternatives = [kind_problems(option, value, path) for option in kind]
        return [] if any(not problems for problems in alternatives) else alternatives[0]
    if isinstance(kind, re.Pattern):
        if isinstance(value, str) and kind.match(value):
            return []
        return [f"{path}: {value!r} does not match {kind.pattern}"]
    if isinstance(kind, list):
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {value!r}"]
        return [
            p for i, item in enumerate(value) for p in kind_problems(kind[0], item, path + f"[{i}]")
        ]
    if isinstance(kind, dict):
        return schema_problems(kind, value, path)
    checks: dict[str, Callable[[Any], bool]] = {
        "bool": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "string": lambda v: isinstance(v, str) and bool(v),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "ratio": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1,
    }
    return [] if checks[kind](value) else [f"{path}: {value!r} is not a {kind}"]


def schema_problems(schema: Schema, value: Any, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object, got {value!r}"]
    problems = [f"{path}.{key}: unknown field" for key in value if key not in schema]
    for key, kind in schema.items():
        if key in value:
            problems += kind_problems(kind, value[key], f"{path}.{key}")
    return problems


def key_differences(name: str, ours: JsonDict, theirs: JsonDict, path: str) -> list[str]:
    """Keys present on one side only that are not documented extras of that side."""
    problems = []
    for key in sorted(set(ours) - set(theirs) - set(OURS_EXTRAS.get(name, {}))):
        problems.append(f"{path}: only ours has {key!r}")
    for key in sorted(set(theirs) - set(ours) - set(ANVIL_EXTRAS.get(name, {}))):
        problems.append(f"{path}: only anvil has {key!r}")
    return problems


def nested_objects(name: str, value: JsonDict) -> Iterator[tuple[str, JsonDict]]:
    """(schema name, object) for `value` and every object inside it (logs, transactions...)."""
    yield name, value
    children = {
        "receipt": [("log", entry) for entry in value.get("logs", [])],
        "block": [
            ("transaction", tx) for tx in value.get("transactions", []) if isinstance(tx, dict)
        ]
        + [("withdrawal", w) for w in value.get("withdrawals", [])],
        "transaction": [("accessListEntry", e) for e in value.get("accessList", [])],
    }.get(name, [])
    for child_name, child in children:
        yield from nested_objects(child_name, child)


def shape_problems(kind: str, ours: JsonDict, theirs: JsonDict, step: str) -> list[str]:
    """Differences of shape between two answers of the same step."""
    if kind == "error":
        problems = []
        for name, answer in (("ours", ours), ("anvil", theirs)):
            if "error" not in answer:
                problems.append(f"{name}: expected an error, got {answer}")
        return problems
    problems = [
        f"{n}: {a['error']}" for n, a in (("ours", ours), ("anvil", theirs)) if "error" in a
    ]
    if problems:
        return problems
    mine, other = ours["result"], theirs["result"]
    plain: dict[str, Kind] = {
        "quantity": QUANTITY,
        "data": DATA,
        "hash": HASH32,
        "decimal": DECIMAL,
        "string": "string",
        "null": "null",
        "logs": [LOG],
    }
    if kind in plain:
        problems += kind_problems(plain[kind], mine, f"ours {step}")
        problems += kind_problems(plain[kind], other, f"anvil {step}")
        if kind == "logs":
            if len(mine) != len(other):
                problems.append(f"{step}: {len(mine)} logs here, {len(other)} on anvil")
            for i, (a, b) in enumerate(zip(mine, other, strict=False)):
                problems += key_differences("log", a, b, f"{step}[{i}]")
        return problems
    problems += schema_problems(SCHEMAS[kind], mine, f"ours {step}")
    problems += schema_problems(SCHEMAS[kind], other, f"anvil {step}")
    mine_objects = list(nested_objects(kind, mine))
    other_objects = list(nested_objects(kind, other))
    if [name for name, _ in mine_objects] != [name for name, _ in other_objects]:
        problems.append(f"{step}: nested objects differ in number or kind")
    for (name, a), (_, b) in zip(mine_objects, other_objects, strict=False):
        problems += key_differences(name, a, b, f"{step} {name}")
    return problems
