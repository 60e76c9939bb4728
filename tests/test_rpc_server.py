"""The embedded chain behind its JSON-RPC server, driven by plain web3.py over HTTP.

A real server on a free loopback port, in a background thread; the client side knows nothing of
eth-tester, exactly like a node talking to the sentinel. The contract it deploys is
tests/probe_contract.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import rlp
from chain_helpers import CHAIN_ID, ChainServer, serve_embedded_chain
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from probe_contract import PROBE_ABI, PROBE_BYTECODE
from rpc_schemas import HASH32, QUANTITY
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError
from web3.providers.rpc import HTTPProvider

from sentinel.chain.embedded import EmbeddedChain
from swarm_network.json_body import parse_json_body

DEPLOYER = Account.from_key(keccak(b"swarm test deployer"))
OBSERVER = Account.from_key(keccak(b"swarm test observer"))  # funded, never spends
DEPLOYER_WEI = 10**21
OBSERVER_WEI = 123_456_789_000
SINK = Web3.to_checksum_address("0x" + "5a" * 20)  # receives the test transfers
INITIAL_VALUE = 5
RECEIPT_KEYS = {
    "transactionHash",
    "transactionIndex",
    "blockHash",
    "blockNumber",
    "from",
    "to",
    "contractAddress",
    "cumulativeGasUsed",
    "gasUsed",
    "effectiveGasPrice",
    "logs",
    "logsBloom",
    "status",
    "type",
}


@dataclass
class Rpc:
    """The server under test: its URL, a web3 client, and raw JSON-RPC access."""

    url: str
    w3: Web3
    chain: EmbeddedChain

    def post(self, payload: Any) -> requests.Response:
        return requests.post(self.url, json=payload, timeout=30)

    def call(self, method: str, params: list[Any]) -> dict[str, Any]:
        """The whole JSON-RPC response object (result or error) for one request."""
        response = self.post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        assert response.status_code == 200
        return response.json()


@pytest.fixture(scope="module")
def rpc() -> Iterator[Rpc]:
    funded = {DEPLOYER.address: DEPLOYER_WEI, OBSERVER.address: OBSERVER_WEI}
    with serve_embedded_chain(funded, chain_id=CHAIN_ID) as server:
        w3 = Web3(HTTPProvider(server.url, request_kwargs={"timeout": 30}))
        yield Rpc(server.url, w3, server.chain)


@dataclass
class Deployment:
    contract: Contract
    raw_receipt: dict[str, Any]
    block_before: int


def eip1559_fees(w3: Web3) -> dict[str, int]:
    """Fees as a careful client sets them: tip from the node, room for base-fee growth."""
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    tip = w3.eth.max_priority_fee
    return {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}


def send_signed(w3: Web3, account: LocalAccount, tx: dict[str, Any]) -> bytes:
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    assert tx_hash == signed.hash
    return bytes(tx_hash)


def eip1559_tx(w3: Web3, account: LocalAccount, **fields: Any) -> dict[str, Any]:
    """A complete type-2 transaction dict: nonce, chain id, fees and gas from the chain."""
    tx = {
        "type": 2,
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "value": 0,
        **eip1559_fees(w3),
        **fields,
    }
    if "gas" not in tx:
        tx["gas"] = w3.eth.estimate_gas({"from": account.address, **fields})
    return tx


@pytest.fixture(scope="module")
def deployment(rpc: Rpc) -> Deployment:
    w3 = rpc.w3
    block_before = w3.eth.block_number
    factory = w3.eth.contract(abi=PROBE_ABI, bytecode=PROBE_BYTECODE)
    data = factory.constructor(INITIAL_VALUE).data_in_transaction
    tx_hash = send_signed(w3, DEPLOYER, eip1559_tx(w3, DEPLOYER, data=data))
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
    raw_receipt = rpc.call("eth_getTransactionReceipt", ["0x" + tx_hash.hex()])["result"]
    contract = w3.eth.contract(address=receipt["contractAddress"], abi=PROBE_ABI)
    return Deployment(contract, raw_receipt, block_before)


def store(rpc: Rpc, contract: Contract, value: int, note: str) -> dict[str, Any]:
    """Call `store` in a signed type-2 transaction and return web3's receipt."""
    data = contract.encode_abi("store", [value, note])
    tx = eip1559_tx(rpc.w3, DEPLOYER, to=contract.address, data=data)
    tx_hash = send_signed(rpc.w3, DEPLOYER, tx)
    return rpc.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


# ---------------------------------------------------------------------------------------------
# Chain basics through web3
# ---------------------------------------------------------------------------------------------


def test_chain_id_and_block_number(rpc: Rpc) -> None:
    assert rpc.w3.eth.chain_id == CHAIN_ID
    assert rpc.call("net_version", [])["result"] == str(CHAIN_ID)
    number = rpc.w3.eth.block_number
    assert isinstance(number, int)
    assert rpc.w3.eth.get_block("latest")["number"] == number


def test_block_past_head_is_null(rpc: Rpc) -> None:
    head = rpc.w3.eth.block_number
    assert rpc.call("eth_getBlockByNumber", [hex(head + 1000), False])["result"] is None
    assert rpc.call("eth_getBlockByHash", ["0x" + "ab" * 32, False])["result"] is None


def test_genesis_is_the_same_on_every_start(rpc: Rpc) -> None:
    again = EmbeddedChain(
        funded_accounts={DEPLOYER.address: DEPLOYER_WEI, OBSERVER.address: OBSERVER_WEI}
    )
    genesis = again.handle("eth_getBlockByNumber", ["0x0", False])
    assert genesis == rpc.call("eth_getBlockByNumber", ["0x0", False])["result"]
    assert genesis["timestamp"] != hex(int(time.time()))


def test_balance_of_funded_and_unknown_accounts(rpc: Rpc) -> None:
    assert rpc.w3.eth.get_balance(OBSERVER.address) == OBSERVER_WEI
    assert rpc.w3.eth.get_balance(Account.create().address) == 0
    assert rpc.w3.eth.get_balance(OBSERVER.address, "earliest") == OBSERVER_WEI


def test_node_holds_no_keys_and_is_not_syncing(rpc: Rpc) -> None:
    assert rpc.w3.eth.accounts == []
    assert rpc.w3.eth.syncing is False
    assert rpc.call("net_listening", [])["result"] is True


def test_deploy_with_signed_eip1559_tx_gives_standard_receipt(
    rpc: Rpc, deployment: Deployment
) -> None:
    receipt = deployment.raw_receipt
    assert receipt.keys() >= RECEIPT_KEYS
    assert not [key for key in receipt if "_" in key], "snake_case keys leaked"
    assert receipt["status"] == "0x1"
    assert receipt["type"] == "0x2"
    assert receipt["to"] is None
    assert receipt["from"] == DEPLOYER.address.lower()
    assert receipt["contractAddress"] == deployment.contract.address.lower()
    for key in ("blockNumber", "gasUsed", "cumulativeGasUsed", "effectiveGasPrice"):
        assert QUANTITY.match(receipt[key]), (key, receipt[key])
    assert HASH32.match(receipt["transactionHash"]) and HASH32.match(receipt["blockHash"])
    assert len(receipt["logsBloom"]) == 2 + 512
    assert int(receipt["blockNumber"], 16) == deployment.block_before + 1  # one block per tx
    assert rpc.w3.eth.get_code(deployment.contract.address) != b""


def test_transaction_by_hash_has_standard_shape(rpc: Rpc, deployment: Deployment) -> None:
    tx = rpc.call("eth_getTransactionByHash", [deployment.raw_receipt["transactionHash"]])
    tx = tx["result"]
    assert tx["hash"] == deployment.raw_receipt["transactionHash"]
    assert tx["chainId"] == hex(CHAIN_ID)
    assert tx["to"] is None and tx["input"].startswith("0x6080")
    assert QUANTITY.match(tx["maxFeePerGas"]) and QUANTITY.match(tx["nonce"])
    # the deployment's gas came from eth_estimateGas: enough, and not much more than needed
    assert 0 <= int(tx["gas"], 16) - int(deployment.raw_receipt["gasUsed"], 16) <= 2_000
    unknown = rpc.call("eth_getTransactionReceipt", ["0x" + "00" * 32])
    assert unknown == {"jsonrpc": "2.0", "id": 1, "result": None}


def test_full_block_holds_transaction_objects(rpc: Rpc, deployment: Deployment) -> None:
    number = deployment.raw_receipt["blockNumber"]
    full = rpc.call("eth_getBlockByNumber", [number, True])["result"]
    hashes = rpc.call("eth_getBlockByNumber", [number, False])["result"]
    tx_hash = deployment.raw_receipt["transactionHash"]
    assert hashes["transactions"] == [tx_hash]
    assert [tx["hash"] for tx in full["transactions"]] == [tx_hash]
    by_hash = rpc.call("eth_getBlockByHash", [full["hash"], False])["result"]
    assert by_hash == hashes
    assert QUANTITY.match(full["baseFeePerGas"]) and QUANTITY.match(full["timestamp"])


def test_view_call_without_from(rpc: Rpc, deployment: Deployment) -> None:
    contract = deployment.contract
    deployed_in = int(deployment.raw_receipt["blockNumber"], 16)
    assert contract.functions.value().call(block_identifier=deployed_in) == INITIAL_VALUE
    assert contract.functions.chainId().call() == CHAIN_ID
    request = {"to": contract.address, "data": contract.encode_abi("value", [])}
    answer = rpc.call("eth_call", [request, hex(deployed_in)])
    assert answer["result"] == word(INITIAL_VALUE)


def test_revert_reason_reaches_web3(rpc: Rpc, deployment: Deployment) -> None:
    store_13 = deployment.contract.functions.store(13, "nope")
    with pytest.raises(ContractLogicError, match="execution reverted: unlucky number"):
        store_13.call()
    with pytest.raises(ContractLogicError, match="unlucky number"):
        store_13.estimate_gas({"from": DEPLOYER.address})
    with pytest.raises(ContractCustomError) as custom:
        deployment.contract.functions.failCustom().call()
    selector = "0x" + keccak(text="Custom(uint256)")[:4].hex()
    assert custom.value.data == selector + word(7)[2:]


def test_revert_error_object_is_geths(rpc: Rpc, deployment: Deployment) -> None:
    data = deployment.contract.encode_abi("store", [13, "nope"])
    error = rpc.call("eth_call", [{"to": deployment.contract.address, "data": data}])["error"]
    assert error["code"] == 3
    assert error["message"] == "execution reverted: unlucky number"
    assert error["data"].startswith("0x08c379a0")


def test_transaction_state_and_logs(rpc: Rpc, deployment: Deployment) -> None:
    contract = deployment.contract
    receipt = store(rpc, contract, 7, "hello")
    assert receipt["status"] == 1
    assert contract.functions.value().call() == 7
    topic0 = "0x" + keccak(text="Stored(address,uint256,string)").hex()
    sender = "0x" + "00" * 12 + DEPLOYER.address[2:].lower()

    def get_logs(topics: list[Any], address: Any = contract.address) -> list[Any]:
        query = {"fromBlock": 0, "toBlock": "latest", "address": address, "topics": topics}
        return rpc.w3.eth.get_logs(query)

    found = get_logs([topic0, None, [word(99), word(7)]])
    assert len(found) == 1
    event = contract.events.Stored().process_log(found[0])
    assert (event["args"]["value"], event["args"]["note"]) == (7, "hello")
    assert found[0]["transactionHash"] == receipt["transactionHash"]
    assert len(get_logs([topic0, sender])) == 1
    assert get_logs([topic0, None, word(8)]) == []
    assert len(get_logs([topic0, None, [word(8), None]])) == 1  # null in an OR-list: any
    assert get_logs([topic0], address=[Account.create().address]) == []
    in_block = rpc.w3.eth.get_logs({"blockHash": receipt["blockHash"]})
    assert [entry["logIndex"] for entry in in_block] == [0]


def test_failed_transaction_is_mined_with_status_zero(rpc: Rpc, deployment: Deployment) -> None:
    data = deployment.contract.encode_abi("store", [13, "boom"])
    tx = eip1559_tx(rpc.w3, DEPLOYER, to=deployment.contract.address, data=data, gas=100_000)
    tx_hash = send_signed(rpc.w3, DEPLOYER, tx)
    receipt = rpc.call("eth_getTransactionReceipt", ["0x" + tx_hash.hex()])["result"]
    assert receipt["status"] == "0x0"
    assert receipt["revertReason"].startswith("0x08c379a0")


def test_legacy_transaction_with_node_gas_price(rpc: Rpc, deployment: Deployment) -> None:
    data = deployment.contract.encode_abi("store", [21, "legacy"])
    tx = {
        "to": deployment.contract.address,
        "data": data,
        "value": 0,
        "gas": 100_000,
        "gasPrice": rpc.w3.eth.gas_price,
        "nonce": rpc.w3.eth.get_transaction_count(DEPLOYER.address, "pending"),
        "chainId": CHAIN_ID,
    }
    tx_hash = send_signed(rpc.w3, DEPLOYER, tx)
    receipt = rpc.w3.eth.get_transaction_receipt(tx_hash)
    assert (receipt["status"], receipt["type"]) == (1, 0)
    assert deployment.contract.functions.value().call() == 21


def test_block_timestamp_is_time_of_mining() -> None:
    """After an idle spell, a block must carry the time it is mined, not the time the block
    before it was mined (py-evm prepares the next block right after mining one)."""
    chain = EmbeddedChain(funded_accounts={DEPLOYER.address: DEPLOYER_WEI})
    base_fee = int(chain.handle("eth_gasPrice", []), 16)

    def transfer(nonce: int) -> int:
        tx = {"to": SINK, "value": 1, "gas": 21_000, "gasPrice": base_fee, "nonce": nonce}
        raw = DEPLOYER.sign_transaction({**tx, "chainId": CHAIN_ID}).raw_transaction
        tx_hash = chain.handle("eth_sendRawTransaction", ["0x" + raw.hex()])
        number = chain.handle("eth_getTransactionReceipt", [tx_hash])["blockNumber"]
        return int(chain.handle("eth_getBlockByNumber", [number, False])["timestamp"], 16)

    transfer(0)
    time.sleep(2.5)
    before = int(time.time())
    assert before <= transfer(1) <= int(time.time()) + 1


def test_log_filter_sees_only_new_events(rpc: Rpc, deployment: Deployment) -> None:
    event_filter = deployment.contract.events.Stored().create_filter(from_block="latest")
    block_filter = rpc.w3.eth.filter("latest")
    assert event_filter.get_new_entries() == []
    store(rpc, deployment.contract, 42, "watched")
    entries = event_filter.get_new_entries()
    assert [entry["args"]["value"] for entry in entries] == [42]
    assert len(block_filter.get_new_entries()) == 1
    assert event_filter.get_new_entries() == []
    assert rpc.w3.eth.uninstall_filter(event_filter.filter_id) is True
    assert rpc.call("eth_getFilterChanges", [event_filter.filter_id])["error"]["code"] == -32000


def test_fee_history_and_default_fees(rpc: Rpc, deployment: Deployment) -> None:
    history = rpc.w3.eth.fee_history(3, "latest", [25, 75])
    head = rpc.w3.eth.block_number
    assert history["oldestBlock"] == head - 2
    assert len(history["baseFeePerGas"]) == 4 and len(history["gasUsedRatio"]) == 3
    assert all(len(rewards) == 2 for rewards in history["reward"])
    gas_price = rpc.w3.eth.gas_price
    assert gas_price == history["baseFeePerGas"][-1] + rpc.w3.eth.max_priority_fee


# ---------------------------------------------------------------------------------------------
# Rejected transactions
# ---------------------------------------------------------------------------------------------


def with_corrupt_signature(raw: bytes) -> bytes:
    """The same type-2 transaction with r = 0, which no key can have signed."""
    fields = rlp.decode(raw[1:])
    fields[10] = b""
    return raw[:1] + rlp.encode(fields)


def test_bad_signature_is_a_json_rpc_error(rpc: Rpc, deployment: Deployment) -> None:
    head = rpc.w3.eth.block_number
    tx = eip1559_tx(rpc.w3, DEPLOYER, to=SINK, value=1, gas=21_000)
    raw = DEPLOYER.sign_transaction(tx).raw_transaction
    answer = rpc.call("eth_sendRawTransaction", ["0x" + with_corrupt_signature(raw).hex()])
    assert answer["error"]["code"] == -32000
    assert "invalid sender" in answer["error"]["message"]
    assert rpc.w3.eth.block_number == head
    send_signed(rpc.w3, DEPLOYER, tx)  # the same transaction, signed properly, still goes
    assert rpc.w3.eth.block_number == head + 1


def test_wrong_nonce_and_chain_id_are_json_rpc_errors(rpc: Rpc, deployment: Deployment) -> None:
    tx = eip1559_tx(rpc.w3, DEPLOYER, to=SINK, value=1, gas=21_000)
    for bad, message in (
        ({**tx, "nonce": tx["nonce"] + 5}, "nonce too high"),
        ({**tx, "nonce": tx["nonce"] - 1}, "nonce too low"),
        ({**tx, "chainId": 1}, "invalid chain id"),
    ):
        raw = DEPLOYER.sign_transaction(bad).raw_transaction
        error = rpc.call("eth_sendRawTransaction", ["0x" + raw.hex()])["error"]
        assert error["code"] == -32000 and message in error["message"], error
    with pytest.raises(Web3RPCError, match="nonce too high"):
        rpc.w3.eth.send_raw_transaction(
            DEPLOYER.sign_transaction({**tx, "nonce": tx["nonce"] + 5}).raw_transaction
        )
    assert rpc.w3.eth.get_transaction_count(DEPLOYER.address) == tx["nonce"]


def test_unfunded_sender_is_refused(rpc: Rpc) -> None:
    poor = Account.create()
    tx = eip1559_tx(rpc.w3, poor, to=SINK, value=1, gas=21_000)
    raw = poor.sign_transaction(tx).raw_transaction
    error = rpc.call("eth_sendRawTransaction", ["0x" + raw.hex()])["error"]
    assert error["code"] == -32000 and "insufficient funds" in error["message"]


# ---------------------------------------------------------------------------------------------
# JSON-RPC protocol
# ---------------------------------------------------------------------------------------------


def test_malformed_json_is_a_parse_error(rpc: Rpc) -> None:
    response = requests.post(rpc.url, data=b'{"jsonrpc": "2.0", "id": 1,', timeout=30)
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "parse error"},
    }


def test_deeply_nested_json_is_a_parse_error_not_a_crash(rpc: Rpc) -> None:
    depth = 200_000  # enough to overflow the C stack if the decoder were let loose
    response = requests.post(rpc.url, data=b"[" * depth + b"]" * depth, timeout=30)
    assert response.json()["error"]["code"] == -32700
    assert rpc.call("eth_chainId", [])["result"] == hex(CHAIN_ID)


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ('[[[[{"a": ["x"]}]]]]', True),  # depth 6 exactly
        ('[[["[[[[[[[[", "]]]]]]]]]"]]]', True),  # brackets inside strings do not count
        ('[[["\\\\", "\\"[[[["]]]', True),  # escaped backslash and quote
        ('[[[[[[["a"]]]]]]]', False),
        ('[ "]", [ "]", [ "]", [ [ [ [ ]]]]]]]', False),  # closers hidden in strings
        ("[[], [], [], [[[[[[[]]]]]]]]", False),  # deep after a shallow start
    ],
)
def test_json_nesting_limit_sees_through_strings(text: str, accepted: bool) -> None:
    json.loads(text)  # every case is valid JSON
    if accepted:
        assert parse_json_body(text.encode(), max_depth=6) == json.loads(text)
    else:
        with pytest.raises(ValueError, match="nested deeper"):
            parse_json_body(text.encode(), max_depth=6)


def test_unknown_method_and_bad_params(rpc: Rpc) -> None:
    assert rpc.call("eth_mine", [])["error"]["code"] == -32601
    assert rpc.call("eth_getBalance", ["0x1234", "latest"])["error"]["code"] == -32602
    assert rpc.call("eth_blockNumber", ["extra"])["error"]["code"] == -32602
    assert rpc.call("eth_getBalance", {"address": OBSERVER.address})["error"]["code"] == -32602


def test_invalid_request_objects(rpc: Rpc) -> None:
    missing_method = rpc.post({"jsonrpc": "2.0", "id": 7}).json()
    assert (missing_method["id"], missing_method["error"]["code"]) == (7, -32600)
    assert rpc.post(42).json()["error"]["code"] == -32600
    assert rpc.post([]).json()["error"]["code"] == -32600
    assert [item["error"]["code"] for item in rpc.post([1, "x"]).json()] == [-32600, -32600]


def test_batch_keeps_ids_and_skips_notifications(rpc: Rpc) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "method": "eth_blockNumber", "params": []},  # notification
        {"jsonrpc": "2.0", "id": 2, "method": "no_such_method", "params": []},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": [OBSERVER.address]},
    ]
    answers = rpc.post(batch).json()
    assert [answer["id"] for answer in answers] == ["a", 2, 3]
    assert answers[0]["result"] == hex(CHAIN_ID)
    assert answers[1]["error"]["code"] == -32601
    assert int(answers[2]["result"], 16) == OBSERVER_WEI


def test_lone_notification_gets_no_body(rpc: Rpc) -> None:
    response = rpc.post({"jsonrpc": "2.0", "method": "eth_chainId", "params": []})
    assert response.status_code == 204 and response.content == b""


def test_internal_error_hides_details(rpc: Rpc, monkeypatch: pytest.MonkeyPatch) -> None:
    original = rpc.chain.handle

    def broken(method: str, params: list[Any]) -> Any:
        if method == "eth_blockNumber":
            raise RuntimeError("secret internal detail")
        return original(method, params)

    monkeypatch.setattr(rpc.chain, "handle", broken)
    response = rpc.post({"jsonrpc": "2.0", "id": 5, "method": "eth_blockNumber", "params": []})
    assert response.json()["error"] == {"code": -32603, "message": "internal error"}
    assert "secret" not in response.text and "Traceback" not in response.text
    assert rpc.call("eth_chainId", [])["result"] == hex(CHAIN_ID)


def test_each_lane_runs_on_its_own_threads(rpc: Rpc, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads, calls and the chain's own work each run off the event loop, in their lane."""
    original = rpc.chain.handle
    threads: dict[str, set[str]] = {}

    def recording(method: str, params: list[Any]) -> Any:
        threads.setdefault(method, set()).add(threading.current_thread().name.split("_")[0])
        return original(method, params)

    monkeypatch.setattr(rpc.chain, "handle", recording)
    rpc.w3.eth.get_block("latest")
    rpc.post([{"jsonrpc": "2.0", "id": n, "method": "eth_chainId"} for n in range(5)])
    rpc.call("eth_call", [{"to": SINK}, "latest"])
    rpc.call("eth_gasPrice", [])
    assert threads == {
        "eth_getBlockByNumber": {"chain-read"},
        "eth_chainId": {"chain-read"},
        "eth_call": {"chain-call"},
        "eth_gasPrice": {"chain-rpc"},
    }


def test_get_describes_the_endpoint(rpc: Rpc) -> None:
    description = requests.get(rpc.url, timeout=30).json()
    assert description["chainId"] == CHAIN_ID
    assert "eth_sendRawTransaction" in description["methods"]


def test_oversized_body_is_refused_with_a_json_rpc_error(
    chain_server: Callable[..., ChainServer],
) -> None:
    server = chain_server({OBSERVER.address: OBSERVER_WEI}, max_body_bytes=1024)
    payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": ["x" * 4096]}
    response = requests.post(server.url, json=payload, timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == -32600
    chunked = requests.post(server.url, data=iter([b"[" + b" " * 4096 + b"]"]), timeout=30)
    assert chunked.status_code == 413 and chunked.json()["error"]["code"] == -32600
    small = {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []}
    assert requests.post(server.url, json=small, timeout=30).json()["result"] == "0x539"
