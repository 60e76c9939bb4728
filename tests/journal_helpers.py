"""A journaled chain's small but varied history, and how to read and forge journal bytes.
Not a test module: tests/test_chain_durability.py and tests/test_chain_sigkill.py use it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain_helpers import CHAIN_ID, DEPLOY_GAS
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from contracts import load_artifact
from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.journal import FILE_MAGIC, RECORD_MAGIC

ADMIN = Account.from_key(keccak(b"durability admin"))
PAYER = Account.from_key(keccak(b"durability payer"))
FUNDED = {ADMIN.address: 10**21, PAYER.address: 10**21}
NODES = [Account.from_key(keccak(f"durability node {i}".encode())).address for i in range(3)]
SINK = Web3.to_checksum_address("0x" + "5a" * 20)
ROLE_LEARNER = 2
ARTIFACT = load_artifact("SwarmLearning")
CODEC = Web3().eth.contract(abi=ARTIFACT["abi"], bytecode=ARTIFACT["bytecode"])
FEES = {"maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9}
FRAME = struct.Struct(">4sII")
JOURNAL_LOGGER = "sentinel.chain.journal"


def call(chain: EmbeddedChain, method: str, *params: Any) -> Any:
    return chain.handle(method, list(params))


def tx_fields(nonce: int, **fields: Any) -> dict[str, Any]:
    """A complete type-2 transaction: explicit gas and fees, so no node is asked for them."""
    return {"type": 2, "chainId": CHAIN_ID, "nonce": nonce, "value": 0, **FEES, **fields}


def sign(account: LocalAccount, nonce: int, **fields: Any) -> str:
    return "0x" + account.sign_transaction(tx_fields(nonce, **fields)).raw_transaction.hex()


def deploy_data() -> str:
    return CODEC.constructor("http://sentinel").data_in_transaction


def set_url_data(url: str) -> str:
    return CODEC.encode_abi("setFileUrl", [url])


def send(chain: EmbeddedChain, raw: str) -> dict[str, Any]:
    """Send a signed transaction and return its receipt (mined at once)."""
    tx_hash = call(chain, "eth_sendRawTransaction", raw)
    receipt = call(chain, "eth_getTransactionReceipt", tx_hash)
    assert receipt is not None
    return receipt


def open_chain(path: Path, **kwargs: Any) -> EmbeddedChain:
    return EmbeddedChain(funded_accounts=FUNDED, chain_id=CHAIN_ID, journal_path=path, **kwargs)


@dataclass(frozen=True)
class History:
    """A journaled chain, closed, with what it looked like before it was closed."""

    journal: Path
    contract: str
    tx_hashes: list[str]
    raws: list[str]
    view: dict[str, Any]


def chain_view(chain: EmbeddedChain, history_tx_hashes: list[str], contract: str) -> dict[str, Any]:
    """Everything a client can read about the history: blocks, receipts, logs, state."""
    head = int(call(chain, "eth_blockNumber"), 16)
    accounts = [ADMIN.address, PAYER.address, SINK, contract]
    node_call = CODEC.encode_abi("getNode", [NODES[0]])
    return {
        "blocks": [call(chain, "eth_getBlockByNumber", hex(n), True) for n in range(head + 1)],
        "receipts": [call(chain, "eth_getTransactionReceipt", h) for h in history_tx_hashes],
        "transactions": [call(chain, "eth_getTransactionByHash", h) for h in history_tx_hashes],
        "logs": call(chain, "eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest"}),
        "balances": [call(chain, "eth_getBalance", a, "latest") for a in accounts],
        "nonces": [call(chain, "eth_getTransactionCount", a, "latest") for a in accounts],
        "code": call(chain, "eth_getCode", contract, "latest"),
        "storage": [call(chain, "eth_getStorageAt", contract, hex(s), "latest") for s in range(12)],
        "node": call(chain, "eth_call", {"to": contract, "data": node_call}, "latest"),
    }


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, payload) of every record in journal bytes (the genesis record first)."""
    found = []
    offset = len(FILE_MAGIC)
    while offset < len(data):
        marker, length, _checksum = FRAME.unpack_from(data, offset)
        assert marker == RECORD_MAGIC
        found.append((offset, data[offset + FRAME.size : offset + FRAME.size + length]))
        offset += FRAME.size + length
    return found


def frame(payload: bytes) -> bytes:
    """A record frame exactly as the journal writes one: marker, length, CRC32, payload."""
    length = struct.pack(">I", len(payload))
    return RECORD_MAGIC + length + struct.pack(">I", zlib.crc32(length + payload)) + payload


def record_history(path: Path) -> History:
    """Journal the history at `path` (a deployment, enrolments emitting logs, a mined revert,
    value transfers), close the chain, and return what it looked like."""
    chain = open_chain(path)
    deploy = sign(ADMIN, 0, data=deploy_data(), gas=DEPLOY_GAS)
    raws = [deploy]
    receipts = [send(chain, deploy)]
    contract = Web3.to_checksum_address(receipts[0]["contractAddress"])
    admin_nonce, payer_nonce = 1, 0
    for i, node in enumerate(NODES):
        data = CODEC.encode_abi("enroll", [node, ROLE_LEARNER, f"http://node{i}"])
        raws.append(sign(ADMIN, admin_nonce, to=contract, data=data, gas=300_000))
        admin_nonce += 1
        raws.append(sign(PAYER, payer_nonce, to=SINK, value=10**15 + i, gas=21_000))
        payer_nonce += 1
    # Mined but reverted: its revert reason must come back after a restart too.
    again = CODEC.encode_abi("enroll", [NODES[0], ROLE_LEARNER, "http://again"])
    raws.append(sign(ADMIN, admin_nonce, to=contract, data=again, gas=300_000))
    admin_nonce += 1
    url = set_url_data("http://sentinel/v2")
    raws.append(sign(ADMIN, admin_nonce, to=contract, data=url, gas=300_000))
    raws.append(sign(PAYER, payer_nonce, to=SINK, value=1, gas=21_000))
    receipts += [send(chain, raw) for raw in raws[1:]]
    assert [r["status"] for r in receipts].count("0x0") == 1
    tx_hashes = [r["transactionHash"] for r in receipts]
    view = chain_view(chain, tx_hashes, contract)
    assert len(view["logs"]) >= len(NODES) + 2  # deployment, enrolments, URL change
    chain.close()
    return History(path, contract, tx_hashes, raws, view)
