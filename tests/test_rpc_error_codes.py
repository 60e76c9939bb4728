"""JSON-RPC error codes: ours are the standard ones, case by case, and anvil's are compared.

Where anvil departs from geth (whose conventions web3.py and ethers.js are built around), the
case says so and ours must be geth's. Runs after the conformance scenario, on the same two
chains (`rpc_pair`, see `tests/rpc_scenario.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_utils import to_checksum_address
from rpc_helpers import (
    ANY_ADDRESS,
    DEV,
    EXECUTION_REVERTED,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    POOR,
    SERVER_ERROR,
    Endpoint,
    JsonDict,
    State,
    call_data,
    hex_of,
    transfer,
)
from rpc_scenario import SCENARIO_TRANSACTIONS, Pair


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


def state_after_scenario(rpc_pair: Pair) -> State:
    receipt = rpc_pair.transcripts["ours"].result("eth_getTransactionReceipt/deploy")
    return State(to_checksum_address(receipt["contractAddress"]), SCENARIO_TRANSACTIONS)


def error_of(rpc: Endpoint, payload: Any) -> JsonDict:
    response = rpc.post(payload)
    assert response.status_code == 200, (rpc.name, response.status_code, response.text)
    answer = response.json()
    assert set(answer) == {"jsonrpc", "id", "error"}, (rpc.name, answer)
    return answer["error"]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[case.name for case in ERROR_CASES])
def test_error_codes_match_the_standard(rpc_pair: Pair, case: ErrorCase) -> None:
    state = state_after_scenario(rpc_pair)
    payload = case.request(state)
    ours = error_of(rpc_pair.ours, payload)
    anvil = error_of(rpc_pair.anvil, payload)
    assert ours["code"] == case.code, ours
    assert isinstance(ours["message"], str) and ours["message"]
    assert anvil["code"] == (case.code if case.anvil_code is None else case.anvil_code), anvil
    assert case.anvil_code is None or case.why  # every deviation says why ours is standard
    # nothing was mined by a refused request
    for rpc in (rpc_pair.ours, rpc_pair.anvil):
        assert rpc.result("eth_blockNumber", []) == hex(SCENARIO_TRANSACTIONS)


def test_tx_refusals_carry_geths_messages(rpc_pair: Pair) -> None:
    """Clients match these texts (web3.py, ethers): ours must use geth's wording."""
    state = state_after_scenario(rpc_pair)
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
        message = error_of(rpc_pair.ours, cases[name].request(state))["message"]
        assert message.startswith(text), (name, message)


# anvil's second dev account (same public mnemonic): lets a test queue a transaction on anvil
# without touching the account the scenario uses.
ANVIL_SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


def test_future_nonce_is_queued_by_anvil_and_refused_here(rpc_pair: Pair) -> None:
    """A documented difference of behaviour, not of shape. anvil (like geth) keeps a
    transaction with a nonce gap in its pool until the gap is filled; our chain mines each
    transaction as it comes and keeps no pool, so it refuses one it cannot mine now, with the
    message geth gives when such a transaction is applied ('nonce too high')."""
    gap = 5
    second = Account.from_key(ANVIL_SECOND_KEY)
    queued = second.sign_transaction(transfer(State(ANY_ADDRESS, gap))).raw_transaction
    tx_hash = rpc_pair.anvil.result("eth_sendRawTransaction", [hex_of(bytes(queued))])
    assert rpc_pair.anvil.result("eth_getTransactionReceipt", [tx_hash]) is None
    ahead = transfer(State(ANY_ADDRESS, SCENARIO_TRANSACTIONS + gap))
    payload = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_sendRawTransaction",
        "params": [hex_of(bytes(DEV.sign_transaction(ahead).raw_transaction))],
    }
    error = error_of(rpc_pair.ours, payload)
    assert error["code"] == SERVER_ERROR and error["message"].startswith("nonce too high")
    for rpc in (rpc_pair.ours, rpc_pair.anvil):
        assert rpc.result("eth_blockNumber", []) == hex(SCENARIO_TRANSACTIONS)
