"""Signed transactions in non-canonical RLP encodings are refused, and cannot wedge the chain.

Each decodes to valid values (a zero as an empty list, a long-form length prefix where the
short form is due), which py-evm would accept and then fail to mine. Each test gets a fresh
chain (`chain_server`), since a wedged chain would poison every later test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import rlp
from chain_helpers import ChainServer
from rpc_helpers import (
    ANY_ADDRESS,
    DEV,
    DEV_BALANCE_WEI,
    SERVER_ERROR,
    State,
    endpoint_of,
    hex_of,
    send_transfer,
    transfer,
    type2_fields,
)


def test_non_canonical_encoding_cannot_wedge_the_chain(
    chain_server: Callable[..., ChainServer],
) -> None:
    """Was a denial of service: a zero nonce encoded as an empty list decoded as 0, passed every
    check and was applied; mining then failed (py-evm put the raw, non-canonical bytes in the
    block: transaction root mismatch) and the half-applied block stayed, so the chain never
    mined again. Now such encodings are refused, and a failed block is undone (see
    tests/test_chain_durability.py)."""
    rpc = endpoint_of(chain_server({DEV.address: DEV_BALANCE_WEI}))
    fields = type2_fields(0)
    assert fields[1] == b""  # nonce 0, canonically the empty string 0x80
    fields[1] = []  # ...and here the empty list 0xc0
    answer = rpc.call("eth_sendRawTransaction", [hex_of(b"\x02" + rlp.encode(fields))])
    assert answer.get("error", {}).get("code") == SERVER_ERROR, answer
    tx_hash = send_transfer(rpc)
    assert rpc.result("eth_getTransactionReceipt", [tx_hash])["status"] == "0x1"


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
def test_non_canonical_encodings_are_refused_and_the_chain_mines_on(
    chain_server: Callable[..., ChainServer], name: str
) -> None:
    rpc = endpoint_of(chain_server({DEV.address: DEV_BALANCE_WEI}))
    answer = rpc.call("eth_sendRawTransaction", [hex_of(NON_CANONICAL[name]())])
    assert answer.get("error", {}).get("code") == SERVER_ERROR, answer
    assert answer["error"]["message"].startswith("invalid raw transaction"), answer
    assert rpc.result("eth_blockNumber", []) == "0x0"
    tx_hash = send_transfer(rpc)
    assert rpc.result("eth_getTransactionReceipt", [tx_hash])["status"] == "0x1"
