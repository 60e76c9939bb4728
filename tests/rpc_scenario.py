"""The conformance scenario, run once on our embedded chain and once on anvil, and the
`rpc_pair` fixture that holds both transcripts (a pytest plugin: see `tests/conftest.py`).

The same scenario runs on both chains: deploy the project's SwarmLearning contract with a
signed raw transaction, read it, `enroll` nodes (type-2 and legacy transactions, events), a
mined revert, then every read method of STEPS. The transactions are byte-identical on both
chains (same well-known dev key, chain id, nonce, fees and gas), so their hashes, receipts'
gas and logs, and blocks' transaction/receipt roots must be EQUAL, not just alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from anvil_node import DEV_PRIVATE_KEY, run_anvil
from chain_helpers import DEPLOY_GAS, require_anvil, serve_embedded_chain
from eth_utils import to_checksum_address
from rpc_helpers import (
    CALL_GAS,
    CHAIN_ID,
    CONTRACT,
    DEV,
    DEV_BALANCE_WEI,
    LEARNER_A,
    LEARNER_B,
    NODE_ENROLLED,
    OUTSIDER,
    ROLE_LEARNER,
    SENTINEL_URL,
    ZERO_ADDRESS,
    Endpoint,
    JsonDict,
    call_data,
    endpoint_of,
    hex_of,
    signed_legacy,
    signed_type2,
)


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


@pytest.fixture(scope="session")
def rpc_pair() -> Iterator[Pair]:
    """Both chains after the scenario, for the whole session: the conformance tests read the
    transcripts, the error-code tests then send both the same bad requests."""
    require_anvil()
    with (
        serve_embedded_chain({DEV.address: DEV_BALANCE_WEI}, chain_id=CHAIN_ID) as server,
        run_anvil(chain_id=CHAIN_ID) as node,
    ):
        ours = endpoint_of(server)
        anvil = Endpoint("anvil", node.url + "/")
        assert node.funded_key == DEV_PRIVATE_KEY and node.funded_address == DEV.address
        transcripts = {"ours": run_scenario(ours), "anvil": run_scenario(anvil)}
        yield Pair(ours, anvil, transcripts)
