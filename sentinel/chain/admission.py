"""Which raw transactions the chain admits: strict decoding, then a node's pool rules.

Why here, before py-evm sees the transaction: py-evm decodes leniently (an RLP list where an
integer belongs decodes as 0, or crashes with TypeError) and keeps the raw bytes it decoded,
so a non-canonical encoding would be applied and then fail to mine. And py-evm's own checks
answer with messages that do not say which rule broke, and never check the chain id (replays
from other chains). So every refusal here is an `RpcError` with geth's message, and nothing
refused has touched the chain.
"""

from __future__ import annotations

from eth.abc import BlockHeaderAPI, SignedTransactionAPI, StateAPI, TransactionBuilderAPI
from eth.exceptions import PyEVMError
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError
from rlp.exceptions import DecodingError, DeserializationError

from sentinel.chain.rpc_format import SERVER_ERROR, RpcError, hex_data, invalid_params

BLOB_TX_TYPE = 3
# What decoding malformed bytes raises: rlp's and py-evm's own errors, and TypeError from
# rlp's integer decoding when an integer field holds a non-empty list.
_DECODING_ERRORS = (DecodingError, DeserializationError, PyEVMError, ValidationError, TypeError)


def decode_transaction(builder: TransactionBuilderAPI, raw: bytes) -> SignedTransactionAPI:
    """Decode a signed transaction, refusing anything but its one canonical encoding.

    The canonical check re-encodes a copy: the decoded object remembers the bytes it came from
    and would hand them back (an empty list 0xc0 for a zero nonce, say). Those bytes are what
    py-evm puts in the block, so its transaction root would not match on mining.
    """
    if not raw:
        raise invalid_params("raw transaction: empty")
    if raw[0] == BLOB_TX_TYPE:
        raise RpcError(SERVER_ERROR, "transaction type not supported: blob transactions")
    try:
        tx = builder.decode(raw)
        canonical = tx.copy().encode()
    except _DECODING_ERRORS as exc:
        raise RpcError(SERVER_ERROR, f"invalid raw transaction: {exc}") from None
    if canonical != raw:
        raise RpcError(
            SERVER_ERROR,
            "invalid raw transaction: not in canonical RLP encoding (a field is encoded "
            "as a list, with leading zeros, or in a longer form than needed)",
        )
    return tx


def check_transaction(
    tx: SignedTransactionAPI, *, chain_id: int, state: StateAPI, pending: BlockHeaderAPI
) -> None:
    """Refuse, with geth's messages, what a node's pool would refuse before mining.

    `state` is the state the transaction would run on, `pending` the header of the block it
    would land in (its gas limit and base fee).
    """
    _check_chain_id(tx, chain_id)
    sender = _check_signature(tx)
    _check_nonce(tx, sender, state.get_nonce(sender))
    _check_gas(tx, pending)
    _check_fees(tx, sender, pending)
    cost = tx.gas * tx.max_fee_per_gas + tx.value
    balance = state.get_balance(sender)
    if balance < cost:
        raise RpcError(
            SERVER_ERROR,
            f"insufficient funds for gas * price + value: address {hex_data(sender)} "
            f"have {balance} want {cost}",
        )


def _check_chain_id(tx: SignedTransactionAPI, chain_id: int) -> None:
    if tx.chain_id is None:
        raise RpcError(
            SERVER_ERROR, "only replay-protected (EIP-155) transactions allowed over RPC"
        )
    if tx.chain_id != chain_id:
        raise RpcError(
            SERVER_ERROR, f"invalid chain id for signer: have {tx.chain_id} want {chain_id}"
        )


def _check_signature(tx: SignedTransactionAPI) -> bytes:
    """Recover the sender. The full signature rules (low s...) are checked once, by py-evm
    when it applies the transaction: each check costs milliseconds of elliptic-curve math in
    pure Python, the main cost of a transaction here."""
    try:
        return tx.sender
    except (BadSignature, ValidationError) as exc:
        raise RpcError(SERVER_ERROR, f"invalid sender: {exc}") from None


def _check_nonce(tx: SignedTransactionAPI, sender: bytes, expected: int) -> None:
    if tx.nonce == expected:
        return
    which = "low" if tx.nonce < expected else "high"
    detail = "" if which == "low" else " (this chain mines at once and queues nothing)"
    raise RpcError(
        SERVER_ERROR,
        f"nonce too {which}: address {hex_data(sender)}, tx: {tx.nonce} state: {expected}{detail}",
    )


def _check_gas(tx: SignedTransactionAPI, pending: BlockHeaderAPI) -> None:
    if tx.gas > pending.gas_limit:
        raise RpcError(SERVER_ERROR, "exceeds block gas limit")
    if tx.gas < tx.intrinsic_gas:
        raise RpcError(
            SERVER_ERROR, f"intrinsic gas too low: have {tx.gas}, want {tx.intrinsic_gas}"
        )


def _check_fees(tx: SignedTransactionAPI, sender: bytes, pending: BlockHeaderAPI) -> None:
    if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
        raise RpcError(
            SERVER_ERROR,
            "max priority fee per gas higher than max fee per gas: "
            f"address {hex_data(sender)}, maxPriorityFeePerGas: "
            f"{tx.max_priority_fee_per_gas}, maxFeePerGas: {tx.max_fee_per_gas}",
        )
    base_fee = pending.base_fee_per_gas
    if tx.max_fee_per_gas < base_fee:
        raise RpcError(
            SERVER_ERROR,
            f"max fee per gas less than block base fee: address {hex_data(sender)}, "
            f"maxFeePerGas: {tx.max_fee_per_gas}, baseFee: {base_fee}",
        )
