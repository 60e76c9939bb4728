"""Raw JSON-RPC for the conformance tests: an endpoint spoken to with plain HTTP POSTs, the
well-known dev key both chains fund, signed transactions, and the standard error codes.
Not a test module.

web3.py forgives a lot (it re-formats answers), so these helpers send RAW requests with
`requests.post` and hand back the raw answers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import rlp
from anvil_node import DEV_PRIVATE_KEY
from chain_helpers import CHAIN_ID, ChainServer
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from web3 import Web3

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = json.loads((ROOT / "contracts" / "artifacts" / "SwarmLearning.json").read_text())
CONTRACT = Web3().eth.contract(abi=ARTIFACT["abi"], bytecode=ARTIFACT["bytecode"])

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
CALL_GAS = 300_000
GAS_ESTIMATE_SLACK = 2_000  # an estimate may exceed the gas used by this much (ours: 1 000)
NODE_ENROLLED = "0x" + keccak(text="NodeEnrolled(address,uint8,string,uint64)").hex()
TRACEBACK_MARKERS = ("Traceback", 'File \\"', "site-packages")  # as they appear in JSON text

JsonDict = dict[str, Any]

# JSON-RPC error codes (JSON-RPC 2.0, and geth's -32000 and 3 for "execution reverted")
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
SERVER_ERROR, EXECUTION_REVERTED = -32000, 3
ANY_ADDRESS = "0x" + "5a" * 20


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


def endpoint_of(server: ChainServer) -> Endpoint:
    """Our embedded chain's JSON-RPC server as an `Endpoint`."""
    return Endpoint("ours", server.url + "/")


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


@dataclass(frozen=True)
class State:
    """What an error case may need from the chain after the scenario (same on both)."""

    contract: str
    next_nonce: int


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


def next_nonce(rpc: Endpoint) -> int:
    return int(rpc.result("eth_getTransactionCount", [DEV.address, "latest"]), 16)


def send_transfer(rpc: Endpoint) -> str:
    """A valid transaction: proves the chain still mines after whatever came before."""
    raw = DEV.sign_transaction(transfer(State(ANY_ADDRESS, next_nonce(rpc)))).raw_transaction
    return rpc.result("eth_sendRawTransaction", [hex_of(bytes(raw))])


def type2_fields(nonce: int) -> list[Any]:
    raw = DEV.sign_transaction(transfer(State(ANY_ADDRESS, nonce))).raw_transaction
    return rlp.decode(bytes(raw)[1:])
