"""The sentinel's chain answers raw JSON-RPC like a standard Ethereum node (anvil here).

Why: every node of the swarm talks to the sentinel's embedded chain through generic Ethereum
clients, and the embedded chain must be replaceable by any other node (anvil, geth). web3.py
forgives a lot (it re-formats answers), so these tests send RAW requests with `requests.post`
and compare the raw answers with anvil's, field by field:

- the same scenario runs on both chains: deploy the project's SwarmLearning contract with a
  signed raw transaction, read it, `enroll` nodes (type-2 and legacy transactions, events), a
  mined revert, then every read method of the list below;
- the transactions are byte-identical on both chains (same well-known dev key, chain id, nonce,
  fees and gas), so their hashes, receipts' gas and logs, and blocks' transaction/receipt roots
  must be EQUAL, not just alike: a check of the EVM and of the encodings at once;
- every answer is checked against the standard encoding of each field (QUANTITY: 0x and no
  leading zeros; DATA: even-length hex; 32-byte hashes; 20-byte lowercase addresses...), and
  both answers must have the same keys except the extras documented below, each with a reason;
- JSON-RPC error codes are compared case by case; where anvil departs from geth (whose
  conventions web3.py and ethers.js are built around), the case says so and ours must be geth's.

The second half sends only our server bad input that tests/test_rpc_server.py does not cover:
whatever comes in, the answer is a JSON-RPC error object, never a crash or a traceback.
Product bugs found on the way are pinned by regression tests at the end.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import rlp
from anvil_node import DEV_PRIVATE_KEY, MISSING_REASON, anvil_binary, run_anvil
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.rpc_server import create_rpc_app
from swarm_network.files.server import BackgroundServer

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = json.loads((ROOT / "contracts" / "artifacts" / "SwarmLearning.json").read_text())
CONTRACT = Web3().eth.contract(abi=ARTIFACT["abi"], bytecode=ARTIFACT["bytecode"])

CHAIN_ID = 1337  # the sentinel's default; anvil is started with the same id
DEV = Account.from_key(DEV_PRIVATE_KEY)  # funded on anvil; we fund it the same on our chain
DEV_BALANCE_WEI = 10_000 * 10**18  # what anvil gives each dev account
POOR = Account.from_key(keccak(b"conformance: never funded"))
OUTSIDER = to_checksum_address("0x" + "0d" * 20)  # not the contract's admin
LEARNER_A = to_checksum_address("0x" + "a1" * 20)
LEARNER_B = to_checksum_address("0x" + "b2" * 20)
ZERO_ADDRESS = "0x" + "00" * 20
ROLE_LEARNER = 2
SENTINEL_URL = "http://127.0.0.1:30305"  # the constructor's string: any URL will do
# Fixed fees and gas, so that the same signed bytes are valid on both chains (base fees differ).
MAX_FEE = 10 * 10**9
TIP = 10**9
DEPLOY_GAS = 3_000_000
CALL_GAS = 300_000
GAS_ESTIMATE_SLACK = 2_000  # an estimate may exceed the gas used by this much (ours: 1 000)
NODE_ENROLLED = "0x" + keccak(text="NodeEnrolled(address,uint8,string,uint64)").hex()
TRACEBACK_MARKERS = ("Traceback", 'File \\"', "site-packages")  # as they appear in JSON text

JsonDict = dict[str, Any]

# ---------------------------------------------------------------------------------------------
# The standard encodings, and the fields of each object (execution-apis schemas, geth answers)
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Endpoints and the scenario
# ---------------------------------------------------------------------------------------------


@dataclass
class Endpoint:
    """One JSON-RPC server, spoken to with plain HTTP POSTs and nothing else."""

    name: str
    url: str

    def post(self, payload: Any) -> requests.Response:
        """POST a JSON value (a dict/list) or raw bytes as they are."""
        if isinstance(payload, bytes):
            headers = {"Content-Type": "application/json"}
            return requests.post(self.url, data=payload, headers=headers, timeout=60)
        return requests.post(self.url, json=payload, timeout=60)

    def call(self, method: str, params: Any = None) -> JsonDict:
        """The whole response object of one request (with `params` omitted if None)."""
        request: JsonDict = {"jsonrpc": "2.0", "id": 1, "method": method}
        if params is not None:
            request["params"] = params
        response = self.post(request)
        assert response.status_code == 200, (self.name, method, response.status_code)
        return response.json()

    def result(self, method: str, params: Any = None) -> Any:
        answer = self.call(method, params)
        assert "error" not in answer, (self.name, method, answer)
        return answer["result"]

    def receipt(self, tx_hash: str) -> JsonDict:
        """The receipt of a transaction, waiting briefly: a node may mine a moment later."""
        deadline = time.monotonic() + 10
        while True:
            answer = self.call("eth_getTransactionReceipt", [tx_hash])
            if answer.get("result") is not None or time.monotonic() > deadline:
                return answer
            time.sleep(0.02)


def serve_embedded(funded: dict[str, int]) -> tuple[Endpoint, BackgroundServer]:
    chain = EmbeddedChain(funded_accounts=funded, chain_id=CHAIN_ID)
    server = BackgroundServer(create_rpc_app(chain)).start()
    return Endpoint("ours", server.url + "/"), server


def signed_type2(
    nonce: int, *, to: str | None, data: str, gas: int, chain_id: int = CHAIN_ID
) -> bytes:
    tx: JsonDict = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "maxFeePerGas": MAX_FEE,
        "maxPriorityFeePerGas": TIP,
        "gas": gas,
        "value": 0,
        "data": data,
    }
    if to is not None:
        tx["to"] = to
    return bytes(DEV.sign_transaction(tx).raw_transaction)


def signed_legacy(nonce: int, *, to: str, data: str, gas: int) -> bytes:
    tx = {"chainId": CHAIN_ID, "nonce": nonce, "gasPrice": MAX_FEE, "gas": gas, "to": to}
    return bytes(DEV.sign_transaction({**tx, "value": 0, "data": data}).raw_transaction)


def hex_of(raw: bytes) -> str:
    return "0x" + raw.hex()


def call_data(function: str, *args: Any) -> str:
    return CONTRACT.encode_abi(function, list(args))


def custom_error(name: str, types: list[str], values: list[Any]) -> str:
    """Revert data of the contract's custom error `name(types)` with these arguments."""
    selector = keccak(text=f"{name}({','.join(types)})")[:4]
    return "0x" + (selector + abi_encode(types, values)).hex()


@dataclass
class Transcript:
    """What one endpoint answered at each step of the scenario (whole response objects)."""

    answers: dict[str, JsonDict] = field(default_factory=dict)
    raw_transactions: dict[str, bytes] = field(default_factory=dict)

    def result(self, step: str) -> Any:
        answer = self.answers[step]
        assert "error" not in answer, (step, answer)
        return answer["result"]


# step name -> schema name ("quantity"... for plain values, "error" where an error is expected)
STEPS: dict[str, str] = {
    "eth_chainId": "quantity",
    "net_version": "decimal",
    "web3_clientVersion": "string",
    "eth_blockNumber/start": "quantity",
    "eth_gasPrice": "quantity",
    "eth_getBalance/start": "quantity",
    "eth_getTransactionCount/start": "quantity",
    "eth_feeHistory/start": "feeHistory",
    "eth_estimateGas/deploy": "quantity",
    "eth_sendRawTransaction/deploy": "hash",
    "eth_getTransactionReceipt/deploy": "receipt",
    "eth_getCode/contract": "data",
    "eth_getCode/account": "data",
    "eth_call/admin": "data",
    "eth_estimateGas/enroll": "quantity",
    "eth_sendRawTransaction/enroll": "hash",
    "eth_getTransactionReceipt/enroll": "receipt",
    "eth_sendRawTransaction/legacy": "hash",
    "eth_getTransactionReceipt/legacy": "receipt",
    "eth_sendRawTransaction/reverting": "hash",
    "eth_getTransactionReceipt/reverting": "receipt",
    "eth_call/nodeCount": "data",
    "eth_call/nodeCount-at-deploy": "data",
    "eth_call/revert": "error",
    "eth_estimateGas/revert": "error",
    "eth_getTransactionByHash/deploy": "transaction",
    "eth_getTransactionByHash/enroll": "transaction",
    "eth_getTransactionByHash/legacy": "transaction",
    "eth_getTransactionByHash/unknown": "null",
    "eth_getTransactionReceipt/unknown": "null",
    "eth_getBlockByNumber/full": "block",
    "eth_getBlockByNumber/hashes": "block",
    "eth_getBlockByNumber/latest": "block",
    "eth_getBlockByNumber/earliest": "block",
    "eth_getBlockByNumber/future": "null",
    "eth_getBlockByHash": "block",
    "eth_getBlockByHash/unknown": "null",
    "eth_getLogs/address": "logs",
    "eth_getLogs/topic": "logs",
    "eth_getLogs/blockHash": "logs",
    "eth_getLogs/none": "logs",
    "eth_feeHistory/end": "feeHistory",
    "eth_getBalance/end": "quantity",
    "eth_getTransactionCount/end": "quantity",
    "eth_blockNumber/end": "quantity",
}
SCENARIO_TRANSACTIONS = 4  # deploy, enroll (type 2), enroll (legacy), reverting enroll


def run_scenario(rpc: Endpoint) -> Transcript:
    """Deploy SwarmLearning, enroll two nodes, mine a revert, then read everything back."""
    out = Transcript()

    def step(name: str, method: str, params: list[Any]) -> Any:
        out.answers[name] = rpc.call(method, params)
        return out.answers[name].get("result")

    def send(name: str, raw: bytes) -> JsonDict:
        out.raw_transactions[name] = raw
        tx_hash = step(f"eth_sendRawTransaction/{name}", "eth_sendRawTransaction", [hex_of(raw)])
        assert tx_hash is not None, (rpc.name, name, out.answers[f"eth_sendRawTransaction/{name}"])
        out.answers[f"eth_getTransactionReceipt/{name}"] = receipt = rpc.receipt(tx_hash)
        assert receipt.get("result") is not None, (rpc.name, name, receipt)
        return receipt["result"]

    step("eth_chainId", "eth_chainId", [])
    step("net_version", "net_version", [])
    step("web3_clientVersion", "web3_clientVersion", [])
    step("eth_blockNumber/start", "eth_blockNumber", [])
    step("eth_gasPrice", "eth_gasPrice", [])
    step("eth_getBalance/start", "eth_getBalance", [DEV.address, "latest"])
    step("eth_getTransactionCount/start", "eth_getTransactionCount", [DEV.address, "latest"])
    step("eth_feeHistory/start", "eth_feeHistory", ["0x1", "latest", [50]])

    deploy_data = CONTRACT.constructor(SENTINEL_URL).data_in_transaction
    step("eth_estimateGas/deploy", "eth_estimateGas", [{"from": DEV.address, "data": deploy_data}])
    deployed = send("deploy", signed_type2(0, to=None, data=deploy_data, gas=DEPLOY_GAS))
    contract = to_checksum_address(deployed["contractAddress"])
    step("eth_getCode/contract", "eth_getCode", [contract, "latest"])
    step("eth_getCode/account", "eth_getCode", [DEV.address, "latest"])
    step("eth_call/admin", "eth_call", [{"to": contract, "data": call_data("admin")}, "latest"])

    enroll_a = call_data("enroll", LEARNER_A, ROLE_LEARNER, "http://127.0.0.1:31305")
    estimate = {"from": DEV.address, "to": contract, "data": enroll_a}
    step("eth_estimateGas/enroll", "eth_estimateGas", [estimate])
    enrolled = send("enroll", signed_type2(1, to=contract, data=enroll_a, gas=CALL_GAS))
    enroll_b = call_data("enroll", LEARNER_B, ROLE_LEARNER, "http://127.0.0.1:32305")
    send("legacy", signed_legacy(2, to=contract, data=enroll_b, gas=CALL_GAS))
    enroll_zero = call_data("enroll", ZERO_ADDRESS, ROLE_LEARNER, "x")
    send("reverting", signed_type2(3, to=contract, data=enroll_zero, gas=CALL_GAS))

    node_count = {"to": contract, "data": call_data("nodeCount")}
    step("eth_call/nodeCount", "eth_call", [node_count, "latest"])
    step("eth_call/nodeCount-at-deploy", "eth_call", [node_count, deployed["blockNumber"]])
    outsider_enroll = {"from": OUTSIDER, "to": contract, "data": enroll_a}
    step("eth_call/revert", "eth_call", [outsider_enroll, "latest"])
    step("eth_estimateGas/revert", "eth_estimateGas", [{**estimate, "data": enroll_zero}])

    for name in ("deploy", "enroll", "legacy"):
        tx_hash = out.result(f"eth_sendRawTransaction/{name}")
        step(f"eth_getTransactionByHash/{name}", "eth_getTransactionByHash", [tx_hash])
    step("eth_getTransactionByHash/unknown", "eth_getTransactionByHash", ["0x" + "ab" * 32])
    step("eth_getTransactionReceipt/unknown", "eth_getTransactionReceipt", ["0x" + "ab" * 32])

    block_number = enrolled["blockNumber"]
    full = step("eth_getBlockByNumber/full", "eth_getBlockByNumber", [block_number, True])
    step("eth_getBlockByNumber/hashes", "eth_getBlockByNumber", [block_number, False])
    step("eth_getBlockByNumber/latest", "eth_getBlockByNumber", ["latest", False])
    step("eth_getBlockByNumber/earliest", "eth_getBlockByNumber", ["earliest", False])
    step("eth_getBlockByNumber/future", "eth_getBlockByNumber", ["0x1000", False])
    step("eth_getBlockByHash", "eth_getBlockByHash", [full["hash"], False])
    step("eth_getBlockByHash/unknown", "eth_getBlockByHash", ["0x" + "ab" * 32, False])

    logs_from = {"fromBlock": deployed["blockNumber"], "toBlock": "latest"}
    step("eth_getLogs/address", "eth_getLogs", [{**logs_from, "address": contract}])
    learner_topic = "0x" + "00" * 12 + LEARNER_B[2:].lower()
    topics = [NODE_ENROLLED, [learner_topic, "0x" + "ee" * 32]]
    step("eth_getLogs/topic", "eth_getLogs", [{**logs_from, "topics": topics}])
    step("eth_getLogs/blockHash", "eth_getLogs", [{"blockHash": full["hash"]}])
    step("eth_getLogs/none", "eth_getLogs", [{**logs_from, "address": OUTSIDER}])

    step("eth_feeHistory/end", "eth_feeHistory", ["0x4", "latest", [25, 75]])
    step("eth_getBalance/end", "eth_getBalance", [DEV.address, "latest"])
    step("eth_getTransactionCount/end", "eth_getTransactionCount", [DEV.address, "latest"])
    step("eth_blockNumber/end", "eth_blockNumber", [])
    assert set(out.answers) == set(STEPS), set(out.answers) ^ set(STEPS)
    return out


@dataclass
class Pair:
    """The two endpoints after the same scenario, with what each answered."""

    ours: Endpoint
    anvil: Endpoint
    transcripts: dict[str, Transcript]

    def both(self, step: str) -> tuple[Any, Any]:
        return self.transcripts["ours"].result(step), self.transcripts["anvil"].result(step)


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    if anvil_binary() is None:
        pytest.skip(MISSING_REASON)
    ours, server = serve_embedded({DEV.address: DEV_BALANCE_WEI})
    try:
        with run_anvil(chain_id=CHAIN_ID) as node:
            anvil = Endpoint("anvil", node.url + "/")
            assert node.funded_key == DEV_PRIVATE_KEY and node.funded_address == DEV.address
            transcripts = {"ours": run_scenario(ours), "anvil": run_scenario(anvil)}
            yield Pair(ours, anvil, transcripts)
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# Same shapes
# ---------------------------------------------------------------------------------------------


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


@pytest.mark.parametrize("step", sorted(STEPS))
def test_answers_have_the_same_shape(pair: Pair, step: str) -> None:
    ours = pair.transcripts["ours"].answers[step]
    theirs = pair.transcripts["anvil"].answers[step]
    for answer in (ours, theirs):
        assert answer["jsonrpc"] == "2.0" and answer["id"] == 1
    assert shape_problems(STEPS[step], ours, theirs, step) == []


def test_documented_extras_are_really_sent(pair: Pair) -> None:
    """Each listed extra key shows up in some answer: the list stays exact, not a blanket."""
    seen: dict[str, set[tuple[str, str]]] = {"ours": set(), "anvil": set()}
    for side, transcript in pair.transcripts.items():
        for step, kind in STEPS.items():
            result = transcript.answers[step].get("result")
            values = result if kind == "logs" else [result]
            name = "log" if kind == "logs" else kind
            for value in values:
                if isinstance(value, dict) and name in SCHEMAS:
                    seen[side] |= {
                        (n, key) for n, obj in nested_objects(name, value) for key in obj
                    }
    for side, extras in (("ours", OURS_EXTRAS), ("anvil", ANVIL_EXTRAS)):
        listed = {(name, key) for name, keys in extras.items() for key in keys}
        assert listed - seen[side] == set(), f"{side}: documented extras never sent"


def test_every_method_under_test_was_exercised(pair: Pair) -> None:
    methods = {step.split("/")[0] for step in STEPS}
    assert methods == {
        "eth_chainId",
        "net_version",
        "web3_clientVersion",
        "eth_blockNumber",
        "eth_getBalance",
        "eth_getTransactionCount",
        "eth_getCode",
        "eth_gasPrice",
        "eth_feeHistory",
        "eth_estimateGas",
        "eth_call",
        "eth_sendRawTransaction",
        "eth_getTransactionReceipt",
        "eth_getTransactionByHash",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getLogs",
    }


# ---------------------------------------------------------------------------------------------
# Same transactions, same chain data
# ---------------------------------------------------------------------------------------------


def test_identity_answers_agree(pair: Pair) -> None:
    assert pair.both("eth_chainId") == (hex(CHAIN_ID), hex(CHAIN_ID))
    assert pair.both("net_version") == (str(CHAIN_ID), str(CHAIN_ID))
    assert pair.both("eth_blockNumber/start") == ("0x0", "0x0")
    assert pair.both("eth_getBalance/start") == (hex(DEV_BALANCE_WEI), hex(DEV_BALANCE_WEI))
    ours_version, anvil_version = pair.both("web3_clientVersion")
    assert ours_version.startswith("SwarmSentinel/") and anvil_version.startswith("anvil/")


def test_same_signed_bytes_give_the_same_transaction_hashes(pair: Pair) -> None:
    ours, anvil = pair.transcripts["ours"], pair.transcripts["anvil"]
    for name, raw in ours.raw_transactions.items():
        assert anvil.raw_transactions[name] == raw
        expected = "0x" + keccak(raw).hex()
        assert pair.both(f"eth_sendRawTransaction/{name}") == (expected, expected)
    assert pair.both("eth_getTransactionCount/start") == ("0x0", "0x0")
    count = hex(SCENARIO_TRANSACTIONS)
    assert pair.both("eth_getTransactionCount/end") == (count, count)
    assert pair.both("eth_blockNumber/end") == (count, count)  # one block per transaction


RECEIPT_EQUAL_KEYS = (
    "type",
    "transactionHash",
    "transactionIndex",
    "blockNumber",
    "from",
    "to",
    "contractAddress",
    "cumulativeGasUsed",
    "gasUsed",
    "status",
    "logsBloom",
)
LOG_EQUAL_KEYS = ("address", "topics", "data", "transactionHash", "transactionIndex", "logIndex")


@pytest.mark.parametrize("name", ["deploy", "enroll", "legacy", "reverting"])
def test_receipts_agree_on_everything_but_fees_and_block_hash(pair: Pair, name: str) -> None:
    ours, anvil = pair.both(f"eth_getTransactionReceipt/{name}")
    assert {k: ours[k] for k in RECEIPT_EQUAL_KEYS} == {k: anvil[k] for k in RECEIPT_EQUAL_KEYS}
    assert [{k: log[k] for k in LOG_EQUAL_KEYS} for log in ours["logs"]] == [
        {k: log[k] for k in LOG_EQUAL_KEYS} for log in anvil["logs"]
    ]
    assert ours["status"] == ("0x0" if name == "reverting" else "0x1")
    assert ours["type"] == ("0x0" if name == "legacy" else "0x2")
    for log in ours["logs"] + anvil["logs"]:
        assert log["removed"] is False


def test_mined_revert_keeps_its_reason_here(pair: Pair) -> None:
    ours, anvil = pair.both("eth_getTransactionReceipt/reverting")
    assert ours["revertReason"] == custom_error("ZeroAddress", [], [])
    assert ours["logs"] == anvil["logs"] == []


TRANSACTION_EQUAL_KEYS = (
    "type",
    "hash",
    "nonce",
    "blockNumber",
    "transactionIndex",
    "from",
    "to",
    "value",
    "gas",
    "input",
    "chainId",
    "v",
    "r",
    "s",
)


@pytest.mark.parametrize("name", ["deploy", "enroll", "legacy"])
def test_transactions_agree(pair: Pair, name: str) -> None:
    ours, anvil = pair.both(f"eth_getTransactionByHash/{name}")
    assert {k: ours[k] for k in TRANSACTION_EQUAL_KEYS} == {
        k: anvil[k] for k in TRANSACTION_EQUAL_KEYS
    }
    if name != "legacy":  # type 2: fee caps as signed; gasPrice is what was paid (differs)
        for key in ("maxFeePerGas", "maxPriorityFeePerGas", "yParity", "accessList"):
            assert ours[key] == anvil[key], key
    else:  # legacy: the signed price, and no type-2 fields
        assert ours["gasPrice"] == anvil["gasPrice"] == hex(MAX_FEE)
        assert "maxFeePerGas" not in ours and "maxFeePerGas" not in anvil


BLOCK_EQUAL_KEYS = (
    "number",
    "gasUsed",
    "transactionsRoot",
    "receiptsRoot",
    "logsBloom",
    "sha3Uncles",
    "difficulty",
    "nonce",
    "miner",
    "uncles",
    "withdrawals",
    "withdrawalsRoot",
    "requestsHash",
    "blobGasUsed",
    "excessBlobGas",
)


def test_blocks_agree_on_their_transactions_and_receipts(pair: Pair) -> None:
    ours, anvil = pair.both("eth_getBlockByNumber/hashes")
    assert {k: ours[k] for k in BLOCK_EQUAL_KEYS} == {k: anvil[k] for k in BLOCK_EQUAL_KEYS}
    enroll_hash = pair.transcripts["ours"].result("eth_sendRawTransaction/enroll")
    assert ours["transactions"] == anvil["transactions"] == [enroll_hash]
    full_ours, full_anvil = pair.both("eth_getBlockByNumber/full")
    assert [tx["hash"] for tx in full_ours["transactions"]] == [enroll_hash]
    assert [tx["hash"] for tx in full_anvil["transactions"]] == [enroll_hash]
    # by hash = by number, on each side
    for side in ("ours", "anvil"):
        transcript = pair.transcripts[side]
        by_hash = transcript.result("eth_getBlockByHash")
        assert by_hash == transcript.result("eth_getBlockByNumber/hashes")
        latest = transcript.result("eth_getBlockByNumber/latest")
        assert latest["number"] == hex(SCENARIO_TRANSACTIONS)
        assert transcript.result("eth_getBlockByNumber/earliest")["number"] == "0x0"


def test_contract_reads_agree(pair: Pair) -> None:
    code_ours, code_anvil = pair.both("eth_getCode/contract")
    assert code_ours == code_anvil == "0x" + ARTIFACT["deployedBytecode"].removeprefix("0x")
    assert pair.both("eth_getCode/account") == ("0x", "0x")
    admin = "0x" + "00" * 12 + DEV.address[2:].lower()
    assert pair.both("eth_call/admin") == (admin, admin)
    three, one = "0x" + f"{3:064x}", "0x" + f"{1:064x}"  # sentinel + two enrolled nodes
    assert pair.both("eth_call/nodeCount") == (three, three)
    assert pair.both("eth_call/nodeCount-at-deploy") == (one, one)


def test_estimates_cover_the_gas_used(pair: Pair) -> None:
    for side in ("ours", "anvil"):
        transcript = pair.transcripts[side]
        for estimate_step, receipt_step in (
            ("eth_estimateGas/deploy", "eth_getTransactionReceipt/deploy"),
            ("eth_estimateGas/enroll", "eth_getTransactionReceipt/enroll"),
        ):
            estimate = int(transcript.result(estimate_step), 16)
            used = int(transcript.result(receipt_step)["gasUsed"], 16)
            assert used <= estimate <= used + GAS_ESTIMATE_SLACK, (side, estimate_step)


def test_logs_agree(pair: Pair) -> None:
    for step in ("eth_getLogs/address", "eth_getLogs/topic", "eth_getLogs/blockHash"):
        ours, anvil = pair.both(step)
        assert [{k: e[k] for k in LOG_EQUAL_KEYS + ("blockNumber",)} for e in ours] == [
            {k: e[k] for k in LOG_EQUAL_KEYS + ("blockNumber",)} for e in anvil
        ], step
    by_address, _ = pair.both("eth_getLogs/address")
    assert [entry["topics"][0] for entry in by_address] == [NODE_ENROLLED] * 3
    by_topic, _ = pair.both("eth_getLogs/topic")
    assert len(by_topic) == 1 and by_topic[0]["topics"][1].endswith(LEARNER_B[2:].lower())
    assert pair.both("eth_getLogs/none") == ([], [])


def test_fee_history_has_one_more_base_fee_than_blocks(pair: Pair) -> None:
    for side in ("ours", "anvil"):
        history = pair.transcripts[side].result("eth_feeHistory/end")
        assert history["oldestBlock"] == hex(SCENARIO_TRANSACTIONS - 3)
        assert len(history["baseFeePerGas"]) == 5 and len(history["gasUsedRatio"]) == 4
        assert [len(rewards) for rewards in history["reward"]] == [2, 2, 2, 2]


def test_finite_floats_only_in_gas_used_ratio(pair: Pair) -> None:
    """gasUsedRatio is the one place JSON numbers appear; both sides send finite floats."""
    for side in ("ours", "anvil"):
        ratios = pair.transcripts[side].result("eth_feeHistory/end")["gasUsedRatio"]
        assert all(math.isfinite(r) and 0 < r < 1 for r in ratios)


def test_reverting_call_and_estimate_carry_the_reason(pair: Pair) -> None:
    for step, data in (
        ("eth_call/revert", custom_error("OnlySentinel", ["address"], [OUTSIDER])),
        ("eth_estimateGas/revert", custom_error("ZeroAddress", [], [])),
    ):
        ours, anvil = (pair.transcripts[side].answers[step]["error"] for side in ("ours", "anvil"))
        # A custom error: geth's answer. Anvil appends its own rendering of the data to the
        # message; the code and the data, which clients decode, are the same.
        assert ours == {"code": 3, "message": "execution reverted", "data": data}, step
        assert (anvil["code"], anvil["data"]) == (3, data), step
        assert anvil["message"].startswith("execution reverted"), step


# ---------------------------------------------------------------------------------------------
# Same error codes
# ---------------------------------------------------------------------------------------------

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
SERVER_ERROR, EXECUTION_REVERTED = -32000, 3
ANY_ADDRESS = "0x" + "5a" * 20


@dataclass(frozen=True)
class State:
    """What an error case may need from the chain after the scenario (same on both)."""

    contract: str
    next_nonce: int


@dataclass(frozen=True)
class ErrorCase:
    """One bad request. `code` is the standard answer, asserted on ours. `anvil_code` is
    anvil's when it differs, with the reason ours is the standard one."""

    name: str
    request: Callable[[State], Any]  # a JSON request object, or raw bytes
    code: int
    anvil_code: int | None = None
    why: str = ""


def request(method: str, params: Any) -> Callable[[State], JsonDict]:
    return lambda _state: {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def raw_tx_request(make: Callable[[State], bytes]) -> Callable[[State], JsonDict]:
    return lambda state: {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_sendRawTransaction",
        "params": [hex_of(make(state))],
    }


def transfer(state: State, **changes: Any) -> JsonDict:
    tx: JsonDict = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": state.next_nonce,
        "maxFeePerGas": MAX_FEE,
        "maxPriorityFeePerGas": TIP,
        "gas": 21_000,
        "to": to_checksum_address(ANY_ADDRESS),
        "value": 1,
    }
    return {**tx, **changes}


def with_zero_r(raw: bytes) -> bytes:
    """The same type-2 transaction with r = 0, which no key can have signed."""
    fields = rlp.decode(raw[1:])
    fields[10] = b""
    return raw[:1] + rlp.encode(fields)


GETH_TX_CONVENTION = (
    "geth answers -32000 for every transaction its pool refuses; web3.py and ethers match on "
    "the message. anvil uses -32003 (EIP-1474's 'transaction rejected', a stagnant draft)"
)
GETH_DECODE_CONVENTION = (
    "geth answers -32000 for a transaction that does not decode or whose signer cannot be "
    "recovered; anvil calls it an invalid parameter"
)

ERROR_CASES = [
    ErrorCase("unknown method", request("eth_noSuchMethod", []), METHOD_NOT_FOUND),
    ErrorCase("short address", request("eth_getBalance", ["0x1234", "latest"]), INVALID_PARAMS),
    ErrorCase("number for address", request("eth_getBalance", [123, "latest"]), INVALID_PARAMS),
    ErrorCase("bad block tag", request("eth_getCode", [ANY_ADDRESS, "soon"]), INVALID_PARAMS),
    ErrorCase("too many params", request("eth_blockNumber", ["extra"]), INVALID_PARAMS),
    ErrorCase("missing params", request("eth_getTransactionCount", []), INVALID_PARAMS),
    ErrorCase("missing bool", request("eth_getBlockByNumber", ["0x0"]), INVALID_PARAMS),
    ErrorCase(
        "odd-length data",
        request("eth_call", [{"to": ANY_ADDRESS, "data": "0x123"}]),
        INVALID_PARAMS,
    ),
    ErrorCase("call object not an object", request("eth_estimateGas", ["x"]), INVALID_PARAMS),
    ErrorCase("short hash", request("eth_getTransactionReceipt", ["0x12"]), INVALID_PARAMS),
    ErrorCase("null hash", request("eth_getTransactionByHash", [None]), INVALID_PARAMS),
    ErrorCase("topics not an array", request("eth_getLogs", [{"topics": "x"}]), INVALID_PARAMS),
    ErrorCase("five topics", request("eth_getLogs", [{"topics": [None] * 5}]), INVALID_PARAMS),
    ErrorCase(
        "blockHash with a range",
        request("eth_getLogs", [{"blockHash": "0x" + "ab" * 32, "fromBlock": "0x1"}]),
        INVALID_PARAMS,
    ),
    ErrorCase(
        "percentiles not an array",
        request("eth_feeHistory", ["0x1", "latest", "x"]),
        INVALID_PARAMS,
    ),
    ErrorCase("raw tx not hex", request("eth_sendRawTransaction", ["nothex"]), INVALID_PARAMS),
    ErrorCase("empty raw tx", request("eth_sendRawTransaction", ["0x"]), INVALID_PARAMS),
    ErrorCase(
        "params not an array",
        request("eth_getBalance", "x"),
        INVALID_PARAMS,
        anvil_code=INVALID_REQUEST,
        why="geth answers -32602 ('non-array args'); the request itself is well-formed",
    ),
    ErrorCase(
        "malformed JSON",
        lambda _state: b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"',
        PARSE_ERROR,
        anvil_code=INVALID_REQUEST,
        why="JSON-RPC 2.0 section 5.1: invalid JSON is -32700 Parse error (geth agrees)",
    ),
    ErrorCase(
        "reverting call",
        lambda s: {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_call",
            "params": [{"to": s.contract, "data": call_data("finish")}, "latest"],
        },
        EXECUTION_REVERTED,
    ),
    ErrorCase(
        "nonce too low",
        raw_tx_request(lambda s: bytes(DEV.sign_transaction(transfer(s, nonce=0)).raw_transaction)),
        SERVER_ERROR,
        anvil_code=-32003,
        why=GETH_TX_CONVENTION,
    ),
    ErrorCase(
        "wrong chain id",
        raw_tx_request(
            lambda s: bytes(DEV.sign_transaction(transfer(s, chainId=1)).raw_transaction)
        ),
        SERVER_ERROR,
        anvil_code=-32003,
        why=GETH_TX_CONVENTION,
    ),
    ErrorCase(
        "insufficient funds",
        raw_tx_request(
            lambda s: bytes(POOR.sign_transaction(transfer(s, nonce=0)).raw_transaction)
        ),
        SERVER_ERROR,
        anvil_code=-32003,
        why=GETH_TX_CONVENTION,
    ),
    ErrorCase(
        "max fee below base fee",
        raw_tx_request(
            lambda s: bytes(
                DEV.sign_transaction(
                    transfer(s, maxFeePerGas=1, maxPriorityFeePerGas=1)
                ).raw_transaction
            )
        ),
        SERVER_ERROR,
        anvil_code=-32003,
        why=GETH_TX_CONVENTION,
    ),
    ErrorCase(
        "gas below intrinsic",
        raw_tx_request(
            lambda s: bytes(DEV.sign_transaction(transfer(s, gas=20_000)).raw_transaction)
        ),
        SERVER_ERROR,
    ),
    ErrorCase(
        "bad signature",
        raw_tx_request(
            lambda s: with_zero_r(bytes(DEV.sign_transaction(transfer(s)).raw_transaction))
        ),
        SERVER_ERROR,
        anvil_code=INVALID_PARAMS,
        why=GETH_DECODE_CONVENTION,
    ),
    ErrorCase(
        "undecodable raw tx",
        request("eth_sendRawTransaction", ["0x1234"]),
        SERVER_ERROR,
        anvil_code=INVALID_PARAMS,
        why=GETH_DECODE_CONVENTION,
    ),
]


def state_after_scenario(pair: Pair) -> State:
    receipt = pair.transcripts["ours"].result("eth_getTransactionReceipt/deploy")
    return State(to_checksum_address(receipt["contractAddress"]), SCENARIO_TRANSACTIONS)


def error_of(rpc: Endpoint, payload: Any) -> JsonDict:
    response = rpc.post(payload)
    assert response.status_code == 200, (rpc.name, response.status_code, response.text)
    answer = response.json()
    assert set(answer) == {"jsonrpc", "id", "error"}, (rpc.name, answer)
    return answer["error"]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[case.name for case in ERROR_CASES])
def test_error_codes_match_the_standard(pair: Pair, case: ErrorCase) -> None:
    state = state_after_scenario(pair)
    payload = case.request(state)
    ours = error_of(pair.ours, payload)
    anvil = error_of(pair.anvil, payload)
    assert ours["code"] == case.code, ours
    assert isinstance(ours["message"], str) and ours["message"]
    assert anvil["code"] == (case.code if case.anvil_code is None else case.anvil_code), anvil
    assert case.anvil_code is None or case.why  # every deviation says why ours is standard
    # nothing was mined by a refused request
    for rpc in (pair.ours, pair.anvil):
        assert rpc.result("eth_blockNumber", []) == hex(SCENARIO_TRANSACTIONS)


def test_tx_refusals_carry_geths_messages(pair: Pair) -> None:
    """Clients match these texts (web3.py, ethers): ours must use geth's wording."""
    state = state_after_scenario(pair)
    expected = {
        "nonce too low": "nonce too low",
        "wrong chain id": "invalid chain id for signer",
        "insufficient funds": "insufficient funds for gas * price + value",
        "max fee below base fee": "max fee per gas less than block base fee",
        "gas below intrinsic": "intrinsic gas too low",
        "bad signature": "invalid sender",
    }
    cases = {case.name: case for case in ERROR_CASES}
    for name, text in expected.items():
        message = error_of(pair.ours, cases[name].request(state))["message"]
        assert message.startswith(text), (name, message)


# anvil's second dev account (same public mnemonic): lets a test queue a transaction on anvil
# without touching the account the scenario uses.
ANVIL_SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


def test_future_nonce_is_queued_by_anvil_and_refused_here(pair: Pair) -> None:
    """A documented difference of behaviour, not of shape. anvil (like geth) keeps a
    transaction with a nonce gap in its pool until the gap is filled; our chain mines each
    transaction as it comes and keeps no pool, so it refuses one it cannot mine now, with the
    message geth gives when such a transaction is applied ('nonce too high')."""
    gap = 5
    second = Account.from_key(ANVIL_SECOND_KEY)
    queued = second.sign_transaction(transfer(State(ANY_ADDRESS, gap))).raw_transaction
    tx_hash = pair.anvil.result("eth_sendRawTransaction", [hex_of(bytes(queued))])
    assert pair.anvil.result("eth_getTransactionReceipt", [tx_hash]) is None
    ahead = transfer(State(ANY_ADDRESS, SCENARIO_TRANSACTIONS + gap))
    payload = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_sendRawTransaction",
        "params": [hex_of(bytes(DEV.sign_transaction(ahead).raw_transaction))],
    }
    error = error_of(pair.ours, payload)
    assert error["code"] == SERVER_ERROR and error["message"].startswith("nonce too high")
    for rpc in (pair.ours, pair.anvil):
        assert rpc.result("eth_blockNumber", []) == hex(SCENARIO_TRANSACTIONS)


def test_anvil_helper_always_stops_the_node() -> None:
    """run_anvil kills anvil when the block exits, also on an exception."""
    if anvil_binary() is None:
        pytest.skip(MISSING_REASON)
    with pytest.raises(RuntimeError, match="boom"), run_anvil() as node:
        pid, url = node.pid, node.url
        assert requests.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=5
        ).ok
        raise RuntimeError("boom")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone and reaped: no zombie left either
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=5)


# ---------------------------------------------------------------------------------------------
# Bad input to our server: always a JSON-RPC error object, never a crash or a traceback
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ours() -> Iterator[Endpoint]:
    """Our server alone (no anvil needed), its dev account funded."""
    rpc, server = serve_embedded({DEV.address: DEV_BALANCE_WEI})
    try:
        yield rpc
    finally:
        server.stop()


def assert_clean(text: str) -> None:
    """Strict JSON (no NaN), and no Python internals leaked into the answer."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant} in the answer")

    json.loads(text, parse_constant=refuse)
    for marker in TRACEBACK_MARKERS:
        assert marker not in text, (marker, text[:500])


def error_answer(rpc: Endpoint, payload: Any, status: int = 200) -> JsonDict:
    response = rpc.post(payload)
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    assert_clean(response.text)
    answer = response.json()
    assert set(answer) == {"jsonrpc", "id", "error"}, answer
    assert set(answer["error"]) <= {"code", "message", "data"}
    assert isinstance(answer["error"]["code"], int) and isinstance(answer["error"]["message"], str)
    return answer


def next_nonce(rpc: Endpoint) -> int:
    return int(rpc.result("eth_getTransactionCount", [DEV.address, "latest"]), 16)


def send_transfer(rpc: Endpoint) -> str:
    """A valid transaction: proves the chain still mines after whatever came before."""
    raw = DEV.sign_transaction(transfer(State(ANY_ADDRESS, next_nonce(rpc)))).raw_transaction
    return rpc.result("eth_sendRawTransaction", [hex_of(bytes(raw))])


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def type2_fields(nonce: int) -> list[Any]:
    raw = DEV.sign_transaction(transfer(State(ANY_ADDRESS, nonce))).raw_transaction
    return rlp.decode(bytes(raw)[1:])


def type2_with(nonce: int, index: int, value: Any) -> bytes:
    fields = type2_fields(nonce)
    fields[index] = value
    return b"\x02" + rlp.encode(fields)


def high_s(nonce: int) -> bytes:
    """The same signature made malleable (s -> n - s, parity flipped): EIP-2 forbids it."""
    fields = type2_fields(nonce)
    s = int.from_bytes(fields[11], "big")
    parity = int.from_bytes(fields[9], "big")
    fields[11] = (SECP256K1_N - s).to_bytes(32, "big")
    fields[9] = b"" if parity else b"\x01"
    return b"\x02" + rlp.encode(fields)


def unprotected_legacy(nonce: int) -> bytes:
    tx = {
        "nonce": nonce,
        "gasPrice": MAX_FEE,
        "gas": 21_000,
        "to": to_checksum_address(ANY_ADDRESS),
    }
    return bytes(DEV.sign_transaction({**tx, "value": 1}).raw_transaction)


def signed_transfer(nonce: int, **changes: Any) -> bytes:
    tx = transfer(State(ANY_ADDRESS, nonce), **changes)
    return bytes(DEV.sign_transaction(tx).raw_transaction)


# name -> (how to make it from the sender's next nonce, the start of geth's/our refusal)
BAD_RAW_TRANSACTIONS: dict[str, tuple[Callable[[int], bytes], str]] = {
    "s = 0": (lambda n: type2_with(n, 11, b""), "invalid sender"),
    "r >= curve order": (lambda n: type2_with(n, 10, b"\xff" * 32), "invalid sender"),
    "y parity 5": (lambda n: type2_with(n, 9, b"\x05"), "invalid sender"),
    "high s": (high_s, "invalid transaction"),
    "field missing": (
        lambda n: b"\x02" + rlp.encode(type2_fields(n)[:-1]),
        "invalid raw transaction",
    ),
    "extra field": (
        lambda n: b"\x02" + rlp.encode(type2_fields(n) + [b"\x01"]),
        "invalid raw transaction",
    ),
    "truncated": (
        lambda n: b"\x02" + rlp.encode(type2_fields(n))[:-5],
        "invalid raw transaction",
    ),
    "trailing bytes": (
        lambda n: b"\x02" + rlp.encode(type2_fields(n)) + b"\x00",
        "invalid raw transaction",
    ),
    "blob type 3": (
        lambda n: b"\x03" + rlp.encode(type2_fields(n)),
        "transaction type not supported",
    ),
    "unknown type 0x7f": (
        lambda n: b"\x7f" + rlp.encode(type2_fields(n)),
        "invalid raw transaction",
    ),
    "address of 19 bytes": (
        lambda n: type2_with(n, 5, b"\x5a" * 19),
        "invalid raw transaction",
    ),
    "list in an integer field": (
        lambda n: type2_with(n, 4, [b"\x52\x08"]),
        "invalid raw transaction",
    ),
    "integer with a leading zero": (
        lambda n: type2_with(n, 4, b"\x00\x52\x08"),
        "invalid raw transaction",
    ),
    "unprotected legacy": (unprotected_legacy, "only replay-protected (EIP-155) transactions"),
    "priority above max fee": (
        lambda n: signed_transfer(n, maxPriorityFeePerGas=MAX_FEE + 1),
        "max priority fee per gas higher than max fee per gas",
    ),
    "gas above block limit": (
        lambda n: signed_transfer(n, gas=10**9),
        "exceeds block gas limit",
    ),
    "value above balance": (
        lambda n: signed_transfer(n, value=10**30),
        "insufficient funds for gas * price + value",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_RAW_TRANSACTIONS))
def test_bad_raw_transaction_is_refused_without_side_effects(ours: Endpoint, name: str) -> None:
    head = ours.result("eth_blockNumber", [])
    nonce = next_nonce(ours)
    make, refusal = BAD_RAW_TRANSACTIONS[name]
    raw = make(nonce)
    payload = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "eth_sendRawTransaction",
        "params": [hex_of(raw)],
    }
    answer = error_answer(ours, payload)
    assert answer["id"] == 9
    assert answer["error"]["code"] == SERVER_ERROR, answer
    assert answer["error"]["message"].startswith(refusal), answer
    assert ours.result("eth_blockNumber", []) == head
    assert next_nonce(ours) == nonce
    tx_hash = send_transfer(ours)  # and the chain goes on
    assert ours.result("eth_getTransactionReceipt", [tx_hash])["status"] == "0x1"


def test_mixed_batch_answers_every_item_in_order(ours: Endpoint) -> None:
    nonce = next_nonce(ours)
    good_raw = DEV.sign_transaction(transfer(State(ANY_ADDRESS, nonce))).raw_transaction
    batch: list[Any] = [
        {"jsonrpc": "2.0", "id": "chain", "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_getBalance", "params": ["0x12"]},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_sendRawTransaction", "params": ["0x1234"]},
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "eth_sendRawTransaction",
            "params": [hex_of(bytes(good_raw))],
        },
        {
            "jsonrpc": "2.0",
            "id": 5,
            "method": "eth_sendRawTransaction",
            "params": [hex_of(bytes(good_raw))],
        },
        {"jsonrpc": "1.0", "id": 6, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 7, "method": "eth_call", "params": [{"data": "0x60006000fd"}]},
        None,
        {"jsonrpc": "2.0", "id": [8], "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 9, "method": "eth_noSuchMethod"},
        {"jsonrpc": "2.0", "id": 10, "method": 42},
    ]
    response = ours.post(batch)
    assert response.status_code == 200
    assert_clean(response.text)
    answers = response.json()
    assert [a.get("id") for a in answers] == ["chain", 2, 3, 4, 5, 6, 7, None, None, 9, 10]
    codes = [a["error"]["code"] if "error" in a else "ok" for a in answers]
    assert codes == [
        "ok",
        INVALID_PARAMS,
        SERVER_ERROR,
        "ok",
        SERVER_ERROR,  # the same transaction again: nonce too low now
        INVALID_REQUEST,
        EXECUTION_REVERTED,
        INVALID_REQUEST,
        INVALID_REQUEST,
        METHOD_NOT_FOUND,
        INVALID_REQUEST,
    ]
    assert answers[3]["result"] == "0x" + keccak(bytes(good_raw)).hex()
    assert answers[4]["error"]["message"].startswith("nonce too low")
    assert answers[6]["error"]["data"] == "0x"
    assert next_nonce(ours) == nonce + 1


def test_batch_over_the_limit_is_one_error(ours: Endpoint) -> None:
    batch = [{"jsonrpc": "2.0", "id": n, "method": "eth_chainId"} for n in range(1001)]
    answer = error_answer(ours, batch)
    assert answer["id"] is None and answer["error"]["code"] == INVALID_REQUEST
    assert len(ours.post(batch[:1000]).json()) == 1000  # exactly the limit is fine


def test_body_over_the_default_limit_is_a_json_rpc_error(ours: Endpoint) -> None:
    """5 MiB is the default; the other suite checks a small custom limit."""
    padding = "0x" + "00" * (5 * 1024 * 1024 // 2 + 16)
    payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [padding]}
    answer = error_answer(ours, payload, status=413)
    assert answer["error"]["code"] == INVALID_REQUEST
    assert ours.result("eth_chainId", []) == hex(CHAIN_ID)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId\xff"}', PARSE_ERROR),  # not UTF-8
        (b"\xef\xbb\xbf{}", PARSE_ERROR),  # UTF-8 byte order mark
        (b"", PARSE_ERROR),
        (b"   ", PARSE_ERROR),
        (b"{'jsonrpc': '2.0'}", PARSE_ERROR),  # single quotes
        (b"null", INVALID_REQUEST),
        (b"true", INVALID_REQUEST),
        (b'"eth_chainId"', INVALID_REQUEST),
        (b"12", INVALID_REQUEST),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": [] } x', PARSE_ERROR),
    ],
)
def test_bodies_that_are_not_requests(ours: Endpoint, body: bytes, code: int) -> None:
    answer = error_answer(ours, body)
    assert answer["id"] is None and answer["error"]["code"] == code


@pytest.mark.parametrize(
    ("request_id", "echoed", "code"),
    [
        ("abc", "abc", None),
        (0, 0, None),
        (-7, -7, None),
        (2.5, 2.5, None),
        (None, None, None),
        (True, None, INVALID_REQUEST),
        ({"a": 1}, None, INVALID_REQUEST),
        ([1], None, INVALID_REQUEST),
    ],
)
def test_ids_are_echoed_or_refused(
    ours: Endpoint, request_id: Any, echoed: Any, code: int | None
) -> None:
    response = ours.post({"jsonrpc": "2.0", "id": request_id, "method": "eth_chainId"})
    assert_clean(response.text)
    answer = response.json()
    assert answer["id"] == echoed and type(answer["id"]) is type(echoed)
    if code is None:
        assert answer["result"] == hex(CHAIN_ID)
    else:
        assert answer["error"]["code"] == code


WRONG_PARAMS: list[tuple[str, Any]] = [
    ("eth_chainId", [1]),
    ("net_version", ["x"]),
    ("web3_clientVersion", [{}]),
    ("eth_blockNumber", [None, None]),
    ("eth_gasPrice", [1]),
    ("eth_getBalance", ["0x" + "zz" * 20, "latest"]),
    ("eth_getBalance", [ANY_ADDRESS, "latest", "extra"]),
    ("eth_getBalance", [ANY_ADDRESS, "0x" + "f" * 70]),
    ("eth_getBalance", [ANY_ADDRESS, {"blockHash": "0x12"}]),
    ("eth_getBalance", [ANY_ADDRESS, {}]),
    ("eth_getTransactionCount", [ANY_ADDRESS[:-2], "latest"]),
    ("eth_getCode", [ANY_ADDRESS, "0xg"]),
    ("eth_getCode", [ANY_ADDRESS, True]),
    ("eth_feeHistory", ["0x1", "latest", [101]]),
    ("eth_feeHistory", ["0x1", "latest", [75, 25]]),
    ("eth_feeHistory", ["0x1", "latest", [True]]),
    ("eth_feeHistory", ["nothex", "latest", []]),
    ("eth_feeHistory", ["0x1", "latest", [], 1]),
    ("eth_estimateGas", [{"to": ANY_ADDRESS, "value": "-0x1"}]),
    ("eth_estimateGas", [{"to": ANY_ADDRESS, "data": "0x00", "input": "0x01"}]),
    ("eth_estimateGas", [{"to": ANY_ADDRESS}, "latest", {"x": {}}]),
    ("eth_call", [{"to": ANY_ADDRESS, "gas": "0x" + "f" * 65}]),
    ("eth_call", [{"from": 5}]),
    ("eth_call", [[]]),
    ("eth_call", [{"to": ANY_ADDRESS}, "latest", {}, "extra"]),
    ("eth_sendRawTransaction", [123]),
    ("eth_sendRawTransaction", ["0x0"]),
    ("eth_sendRawTransaction", ["0x02", "0x02"]),
    ("eth_getTransactionReceipt", ["0x" + "ab" * 33]),
    ("eth_getTransactionByHash", [123]),
    ("eth_getBlockByNumber", ["latest", "yes"]),
    ("eth_getLogs", [{"address": ["0x12"]}]),
    ("eth_getLogs", [{"topics": [["0x12"]]}]),
    ("eth_getLogs", [{"fromBlock": "first"}]),
    ("eth_getLogs", [[]]),
    ("eth_getLogs", []),
]


@pytest.mark.parametrize(
    ("method", "params"), WRONG_PARAMS, ids=[f"{m}-{i}" for i, (m, _) in enumerate(WRONG_PARAMS)]
)
def test_wrong_params_are_invalid_params(ours: Endpoint, method: str, params: Any) -> None:
    answer = error_answer(ours, {"jsonrpc": "2.0", "id": 3, "method": method, "params": params})
    assert answer["id"] == 3
    assert answer["error"]["code"] == INVALID_PARAMS, answer
    assert len(answer["error"]["message"]) < 300


def test_random_raw_transaction_mutations_never_break_the_server(ours: Endpoint) -> None:
    """300 corrupted transactions in one batch: each one answered with an error object (or
    mined, if the corruption happens to leave a valid transaction), and the chain goes on."""
    rng = random.Random(20261122)
    nonce = next_nonce(ours)
    bases = [
        bytes(DEV.sign_transaction(transfer(State(ANY_ADDRESS, nonce))).raw_transaction),
        bytes(
            DEV.sign_transaction(
                {
                    "chainId": CHAIN_ID,
                    "nonce": nonce,
                    "gasPrice": MAX_FEE,
                    "gas": 21_000,
                    "to": to_checksum_address(ANY_ADDRESS),
                    "value": 1,
                }
            ).raw_transaction
        ),
    ]
    mutants = []
    for index in range(300):
        data = bytearray(bases[index % 2])
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.5:
                data[position] = rng.randrange(256)
            elif choice < 0.75:
                del data[position : position + rng.randint(1, 4)]
            else:
                data[position:position] = rng.randbytes(rng.randint(1, 4))
        mutants.append(bytes(data))
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [hex_of(m)]}
        for i, m in enumerate(mutants)
    ]
    response = ours.post(batch)
    assert response.status_code == 200
    assert_clean(response.text)
    answers = response.json()
    assert [a["id"] for a in answers] == list(range(len(mutants)))
    for answer in answers:
        assert ("result" in answer) != ("error" in answer)
        if "error" in answer:  # refused as a transaction, not as a server failure
            assert answer["error"]["code"] in (SERVER_ERROR, INVALID_PARAMS), answer
    tx_hash = send_transfer(ours)
    assert ours.result("eth_getTransactionReceipt", [tx_hash])["status"] == "0x1"


# ---------------------------------------------------------------------------------------------
# Product bugs found by these tests (fixed; each test pins its fix)
# ---------------------------------------------------------------------------------------------


def test_nan_id_gets_a_standard_json_answer(ours: Endpoint) -> None:
    response = ours.post(b'{"jsonrpc": "2.0", "id": NaN, "method": "eth_chainId"}')
    assert_clean(response.text)
    assert response.json()["error"]["code"] in (PARSE_ERROR, INVALID_REQUEST)


def test_malformed_block_hash_is_invalid_params(ours: Endpoint) -> None:
    """Was null: the hash was parsed inside the `except RpcError: return None` meant for
    unknown blocks, so its own invalid-params error was swallowed."""
    answer = ours.call("eth_getBlockByHash", ["0x12", False])
    assert answer.get("error", {}).get("code") == INVALID_PARAMS, answer


def test_bad_full_flag_is_invalid_params_even_past_the_head(ours: Endpoint) -> None:
    """Was null: a block past the head was answered before the second parameter was parsed."""
    answer = ours.call("eth_getBlockByNumber", ["0x1000", "yes"])
    assert answer.get("error", {}).get("code") == INVALID_PARAMS, answer


def test_rlp_list_in_an_integer_field_is_an_invalid_transaction(ours: Endpoint) -> None:
    """Was -32603 and a logged traceback: rlp's integer decoding raised TypeError."""
    legacy = rlp.decode(unprotected_legacy(0))
    legacy[0] = [b"x"]  # nonce
    answer = ours.call("eth_sendRawTransaction", [hex_of(rlp.encode(legacy))])
    assert answer.get("error", {}).get("code") == SERVER_ERROR, answer


def test_non_canonical_encoding_cannot_wedge_the_chain() -> None:
    """Was a denial of service: a zero nonce encoded as an empty list decoded as 0, passed every
    check and was applied; mining then failed (py-evm put the raw, non-canonical bytes in the
    block: transaction root mismatch) and the half-applied block stayed, so the chain never
    mined again. Now such encodings are refused, and a failed block is undone (see
    tests/test_chain_durability.py)."""
    rpc, server = serve_embedded({DEV.address: DEV_BALANCE_WEI})
    try:
        fields = type2_fields(0)
        assert fields[1] == b""  # nonce 0, canonically the empty string 0x80
        fields[1] = []  # ...and here the empty list 0xc0
        answer = rpc.call("eth_sendRawTransaction", [hex_of(b"\x02" + rlp.encode(fields))])
        assert answer.get("error", {}).get("code") == SERVER_ERROR, answer
        tx_hash = send_transfer(rpc)
        assert rpc.result("eth_getTransactionReceipt", [tx_hash])["status"] == "0x1"
    finally:
        server.stop()


def signed_fields(**changes: Any) -> list[Any]:
    """The RLP fields of DEV's first transfer (nonce 0) with the given changes."""
    raw = DEV.sign_transaction(transfer(State(ANY_ADDRESS, 0), **changes)).raw_transaction
    return rlp.decode(bytes(raw)[1:])


def zero_parity_fields() -> list[Any]:
    """A transfer whose signature's y parity is 0 (canonically the empty string 0x80)."""
    for value in range(1, 64):  # each value gives parity 0 with probability 1/2
        fields = signed_fields(value=value)
        if fields[9] == b"":
            return fields
    raise AssertionError("no signature with y parity 0")


def rlp_list(encoded_items: list[bytes]) -> bytes:
    """An RLP list of already encoded items (which may be encoded non-canonically)."""
    payload = b"".join(encoded_items)
    return rlp.codec.length_prefix(len(payload), 0xC0) + payload


def long_form_recipient() -> bytes:
    """The 20-byte `to` with a long-form length prefix (0xb8 0x14), legal only from 56 bytes."""
    items = [rlp.encode(field) for field in signed_fields()]
    items[5] = b"\xb8\x14" + items[5][1:]
    return b"\x02" + rlp_list(items)


def type2_from(fields: list[Any], index: int, value: Any) -> bytes:
    changed = list(fields)
    changed[index] = value
    return b"\x02" + rlp.encode(changed)


# Signed type-2 transactions (nonce 0) that decode to valid values from non-canonical bytes.
NON_CANONICAL: dict[str, Callable[[], bytes]] = {
    "zero nonce as an empty list": lambda: type2_from(signed_fields(), 1, []),
    "zero value as an empty list": lambda: type2_from(signed_fields(value=0), 6, []),
    "zero y parity as an empty list": lambda: type2_from(zero_parity_fields(), 9, []),
    "recipient with a long-form length": long_form_recipient,
}


@pytest.mark.parametrize("name", sorted(NON_CANONICAL))
def test_non_canonical_encodings_are_refused_and_the_chain_mines_on(name: str) -> None:
    rpc, server = serve_embedded({DEV.address: DEV_BALANCE_WEI})
    try:
        answer = rpc.call("eth_sendRawTransaction", [hex_of(NON_CANONICAL[name]())])
        assert answer.get("error", {}).get("code") == SERVER_ERROR, answer
        assert answer["error"]["message"].startswith("invalid raw transaction"), answer
        assert rpc.result("eth_blockNumber", []) == "0x0"
        tx_hash = send_transfer(rpc)
        assert rpc.result("eth_getTransactionReceipt", [tx_hash])["status"] == "0x1"
    finally:
        server.stop()
