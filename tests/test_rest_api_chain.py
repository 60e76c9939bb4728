"""The chain as an Ethereum client sees it: through an SN node's `/rpc` proxy, and straight
at the sentinel's JSON-RPC endpoint with plain web3.py and raw requests."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from eth_utils import keccak
from rest_client import TIMEOUT, get
from web3 import Web3
from web3.providers.rpc import HTTPProvider

from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_network.chain import SwarmContract
from swarm_network.defaults import CHAIN_ID

NODE_ENROLLED_TOPIC = "0x" + keccak(text="NodeEnrolled(address,uint8,string,uint64)").hex()


def test_rpc_proxy_serves_web3(node_url: str, chain_w3: Web3) -> None:
    w3 = Web3(HTTPProvider(f"{node_url}/rpc", request_kwargs={"timeout": TIMEOUT}))
    assert w3.eth.chain_id == CHAIN_ID
    proxied = w3.eth.block_number
    assert proxied >= 1
    assert proxied == chain_w3.eth.block_number
    contract = get(f"{node_url}/v1/chain")["contract_address"]
    assert len(w3.eth.get_code(contract)) > 0
    config = SwarmContract(w3=w3, address=contract).training_config()
    assert config.configured is False


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"this is not json", -32700),
        (b'{"jsonrpc": "2.0", "id": 1, "method": ', -32700),
        (b"\xff\xfe", -32700),
        (b'{"foo": 1}', -32600),
        (b'{"jsonrpc": "2.0", "id": 7, "method": "eth_noSuchMethod", "params": []}', -32601),
    ],
    ids=["garbage", "truncated", "not-utf8", "not-a-request", "unknown-method"],
)
def test_rpc_proxy_answers_malformed_json_rpc_with_an_error_object(
    node_url: str, body: bytes, code: int
) -> None:
    response = requests.post(
        f"{node_url}/rpc",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code < 500, response.text
    answer = response.json()
    assert answer["jsonrpc"] == "2.0"
    assert "result" not in answer
    assert answer["error"]["code"] == code
    assert isinstance(answer["error"]["message"], str)
    if code == -32601:
        assert answer["id"] == 7


def test_rpc_proxy_passes_batches_through(node_url: str) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []},
    ]
    response = requests.post(f"{node_url}/rpc", json=batch, timeout=TIMEOUT)
    assert response.status_code == 200
    answers = {a["id"]: a for a in response.json()}
    assert answers[1]["result"] == hex(CHAIN_ID)
    assert int(answers[2]["result"], 16) >= 1


# ------------------------------------------------------------------------------ chain endpoint


def raw_rpc(url: str, method: str, *params: Any) -> Any:
    response = requests.post(
        url,
        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "error" not in answer, answer
    return answer["result"]


def test_chain_latest_block(chain_w3: Web3) -> None:
    block = chain_w3.eth.get_block("latest")
    assert block["number"] >= 1
    assert len(block["hash"]) == 32
    parent = chain_w3.eth.get_block(block["number"] - 1)
    assert block["parentHash"] == parent["hash"]


def test_chain_deployment_receipt_in_raw_camel_case(
    swarm: LocalSwarm, addresses: dict[str, str]
) -> None:
    url = swarm.sentinel_rpc
    assert url is not None
    contract = get(f"{swarm.sentinel_rest}/v1/chain")["contract_address"]
    block = raw_rpc(url, "eth_getBlockByNumber", "0x1", False)
    assert block["number"] == "0x1"
    assert {"hash", "parentHash", "stateRoot", "gasUsed", "timestamp", "transactions"} <= set(block)
    assert len(block["transactions"]) == 1
    tx_hash = block["transactions"][0]

    tx = raw_rpc(url, "eth_getTransactionByHash", tx_hash)
    assert tx["hash"] == tx_hash
    assert tx["from"].lower() == addresses["sentinel"].lower()
    assert tx["to"] is None
    assert tx["blockNumber"] == "0x1"

    receipt = raw_rpc(url, "eth_getTransactionReceipt", tx_hash)
    for key in (
        "transactionHash",
        "transactionIndex",
        "blockHash",
        "blockNumber",
        "contractAddress",
        "gasUsed",
        "cumulativeGasUsed",
        "status",
        "logs",
        "from",
    ):
        assert key in receipt, key
    assert not [k for k in receipt if "_" in k], receipt.keys()
    assert receipt["transactionHash"] == tx_hash
    assert receipt["blockNumber"] == "0x1"
    assert receipt["blockHash"] == block["hash"]
    assert receipt["status"] == "0x1"
    assert receipt["contractAddress"].lower() == contract.lower()
    assert re.match(r"^0x[0-9a-f]+$", receipt["gasUsed"])
    assert int(receipt["gasUsed"], 16) > 21_000
    # the constructor enrols the sentinel: one NodeEnrolled log
    assert [log["topics"][0] for log in receipt["logs"]] == [NODE_ENROLLED_TOPIC]
    assert receipt["logs"][0]["address"].lower() == contract.lower()
    assert not [k for log in receipt["logs"] for k in log if "_" in k]


def test_chain_eth_call_reads_the_contract(swarm: LocalSwarm, chain_w3: Web3) -> None:
    contract = SwarmContract(
        w3=chain_w3, address=get(f"{swarm.sentinel_rest}/v1/chain")["contract_address"]
    )
    assert contract.code_matches_artifact()
    config = contract.training_config()
    assert config.configured is False
    assert config.min_peers == 0
    assert contract.current_step() == 0
    assert int(contract.contract.functions.minPeers().call()) == config.min_peers


def test_chain_get_logs_finds_node_enrolled_events(
    swarm: LocalSwarm, chain_w3: Web3, addresses: dict[str, str]
) -> None:
    contract = SwarmContract(
        w3=chain_w3, address=get(f"{swarm.sentinel_rest}/v1/chain")["contract_address"]
    )
    logs = chain_w3.eth.get_logs(
        {
            "fromBlock": 0,
            "toBlock": "latest",
            "address": contract.address,
            "topics": [NODE_ENROLLED_TOPIC],
        }
    )
    events = [contract.contract.events.NodeEnrolled().process_log(log) for log in logs]
    by_node = {e["args"]["node"]: e["args"] for e in events}
    for name in ("sentinel", "sn"):
        assert by_node[addresses[name]]["role"] == 1, name  # network
        assert by_node[addresses[name]]["atStep"] == 0
    # exactly the enrolled nodes, each once
    assert len(by_node) == len(events)
    assert set(by_node) == {n["address"] for n in get(f"{swarm.sentinel_rest}/v1/nodes")["nodes"]}

    # the indexed node topic filters too (raw eth_getLogs)
    sn_topic = "0x" + "00" * 12 + addresses["sn"].lower()[2:]
    raw = raw_rpc(
        swarm.sentinel_rpc or "",
        "eth_getLogs",
        {"fromBlock": "0x0", "toBlock": "latest", "topics": [NODE_ENROLLED_TOPIC, sn_topic]},
    )
    assert len(raw) == 1
    assert raw[0]["topics"][1] == sn_topic
    assert {"blockNumber", "transactionHash", "logIndex", "data", "address"} <= set(raw[0])
