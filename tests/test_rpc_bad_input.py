"""Bad input to our JSON-RPC server: whatever comes in, the answer is a JSON-RPC error
object, never a crash or a traceback, and a refused transaction changes nothing.

Only what tests/test_rpc_server.py does not cover; product bugs found on the way are pinned by
regression tests at the end.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import rlp
from chain_helpers import serve_embedded_chain
from eth_utils import keccak, to_checksum_address
from rpc_helpers import (
    ANY_ADDRESS,
    CHAIN_ID,
    DEV,
    DEV_BALANCE_WEI,
    EXECUTION_REVERTED,
    INVALID_PARAMS,
    INVALID_REQUEST,
    MAX_FEE,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    SERVER_ERROR,
    TRACEBACK_MARKERS,
    Endpoint,
    JsonDict,
    State,
    endpoint_of,
    hex_of,
    next_nonce,
    send_transfer,
    transfer,
    type2_fields,
)


@pytest.fixture(scope="module")
def ours() -> Iterator[Endpoint]:
    """Our server alone (no anvil needed), its dev account funded."""
    with serve_embedded_chain({DEV.address: DEV_BALANCE_WEI}, chain_id=CHAIN_ID) as server:
        yield endpoint_of(server)


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


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


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
