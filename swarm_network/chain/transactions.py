"""The transaction pipeline of one key: pending nonce, gas price, signing, delivery, receipt.

Every node signs its own transactions locally and sends them raw, so the chain endpoint never
holds keys and no node acts in another's name. A transaction is signed once and those exact
bytes are delivered until mined: if the endpoint goes away mid-way (a sentinel restarting),
the same hash is sent again once it is back, so it is applied at most once, and a transaction
the chain lost before confirming it is applied again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from swarm_network.chain.reverts import hex_revert_data, revert_error
from swarm_network.chain.transport import chain_call, retry_backoff
from swarm_network.errors import ChainError, ChainUnavailable, ContractRevert

log = logging.getLogger(__name__)

GAS_PRICE_TTL_S = 10.0
# What nodes answer for a transaction they have seen already (geth, anvil, Besu wording; no
# standard error code exists for it): its receipt then tells what became of it.
ALREADY_SENT = ("nonce too low", "already known", "known transaction")
# How often a transaction is signed again when another transaction of the same key (another
# process holding the key file) took its nonce first.
NONCE_TAKEN_RETRIES = 3


class NonceTaken(ChainError):
    """The chain has mined another transaction with our nonce: ours can never be mined."""


class TransactionSender:
    """Sends the transactions of one account, one at a time, keeping its nonce."""

    def __init__(
        self, *, w3: Web3, account: LocalAccount, receipt_timeout_s: float, retry_s: float
    ) -> None:
        """`retry_s`: how long to keep retrying, with backoff, while the chain endpoint is
        unreachable before giving up with ChainUnavailable."""
        self.w3 = w3
        self.account = account
        self.receipt_timeout_s = receipt_timeout_s
        self.retry_s = retry_s
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._chain_id: int | None = None
        self._gas_price_cache: tuple[int, float] | None = None

    def send(self, prepare: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Sign the transaction `prepare` describes (to, data, gas, value: it may dry-run it
        first) with our nonce, gas price and chain id; deliver it; return its receipt, also
        when it reverted (status 0: see `receipt_revert`)."""
        delays = retry_backoff(self.retry_s).delays()
        signed = None
        resigns = NONCE_TAKEN_RETRIES
        with self._lock:
            while True:
                try:
                    if signed is None:
                        if self._nonce is None:
                            self._nonce = self._pending_nonce()
                        tx = self._complete(prepare(), self._nonce)
                        signed = self.account.sign_transaction(tx)
                    receipt = _deliver(self.w3, signed, self.receipt_timeout_s)
                    break
                except ChainUnavailable:
                    delay = next(delays, None)
                    if delay is None:
                        self._nonce = None  # whether it went through is unknown: re-read
                        raise
                    log.warning("chain unreachable; retrying in %.1fs", delay)
                    time.sleep(delay)
                except NonceTaken:
                    self._nonce, signed = None, None
                    resigns -= 1
                    if resigns < 0:
                        raise
                    log.warning("nonce taken by another transaction of this key; signing again")
                except ChainError:
                    if signed is not None:  # it may or may not have gone through: re-read
                        self._nonce = None
                    raise
            self._nonce += 1  # mined, even if it reverted (e.g. lost a closeStep race)
        return receipt

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = chain_call("eth_chainId", lambda: self.w3.eth.chain_id)
        return self._chain_id

    def _complete(self, fields: dict[str, Any], nonce: int) -> dict[str, Any]:
        return {
            "value": 0,
            **fields,
            "from": self.account.address,
            "gasPrice": self._gas_price(),
            "nonce": nonce,
            "chainId": self.chain_id,
        }

    def _pending_nonce(self) -> int:
        address = self.account.address
        return chain_call(
            "eth_getTransactionCount",
            lambda: self.w3.eth.get_transaction_count(address, "pending"),
        )

    def _gas_price(self) -> int:
        """Gas price, re-read at most every GAS_PRICE_TTL_S (one read less on the hot path)."""
        now = time.monotonic()
        if self._gas_price_cache is None or now - self._gas_price_cache[1] > GAS_PRICE_TTL_S:
            price = chain_call("eth_gasPrice", lambda: self.w3.eth.gas_price)
            self._gas_price_cache = (price, now)
        return self._gas_price_cache[0]


def receipt_revert(receipt: dict[str, Any]) -> ContractRevert | None:
    """Why a mined transaction reverted, where the chain keeps the revert data in the receipt
    (our embedded chain and Besu: `revertReason`, as hex ABI data); None where it keeps none
    (anvil, geth), and for a transaction that did not revert."""
    if receipt["status"] == 1:
        return None
    recorded = receipt.get("revertReason")
    if not recorded:
        return None
    data = hex_revert_data(recorded)
    if data is None:  # a node that records the reason as text
        return ContractRevert(str(recorded).removeprefix("execution reverted: "))
    return revert_error(data)


def _deliver(w3: Web3, signed: Any, timeout_s: float) -> dict[str, Any]:
    """Send signed bytes and get their receipt, in one round trip where the chain allows it:
    one JSON-RPC batch of the send and the receipt, which a chain that mines at once (ours,
    anvil) answers with the receipt; any other chain gets its receipt polled. A chain that
    says it has seen this nonce may hold this very transaction (sent before a reconnect): its
    receipt then answers."""
    tx_hash = signed.hash
    started = time.monotonic()
    sent, receipt = chain_call(
        "eth_sendRawTransaction",
        lambda: w3.provider.make_batch_request(
            [
                ("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()]),
                ("eth_getTransactionReceipt", ["0x" + bytes(tx_hash).hex()]),
            ]
        ),
    )
    if "error" in sent:
        message = str(sent["error"].get("message", sent["error"]))
        if not any(marker in message.lower() for marker in ALREADY_SENT):
            raise ChainError(f"eth_sendRawTransaction: {message}")
    if receipt.get("result") is None:
        receipt = {"result": _polled_receipt(w3, tx_hash, timeout_s, sent)}
    log.debug("tx %s mined in %.1f ms", tx_hash.hex(), (time.monotonic() - started) * 1000)
    return receipt_fields(receipt["result"])


def _polled_receipt(w3: Web3, tx_hash: bytes, timeout_s: float, sent: dict) -> dict:
    """The receipt of a transaction the chain has not mined yet (or already knew)."""
    if "error" in sent:  # the chain knew this nonce: mined already, or it was another tx
        found = chain_call("eth_getTransactionReceipt", lambda: _raw_receipt(w3, tx_hash))
        if found is not None:
            return found
        message = str(sent["error"].get("message"))
        if "nonce too low" in message.lower():
            raise NonceTaken(f"eth_sendRawTransaction: {message}")
        raise ChainError(f"eth_sendRawTransaction: {message}")
    chain_call(
        "eth_getTransactionReceipt",
        lambda: w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout_s, poll_latency=0.02),
    )
    found = chain_call("eth_getTransactionReceipt", lambda: _raw_receipt(w3, tx_hash))
    if found is None:
        raise ChainError(f"transaction {tx_hash.hex()} mined but its receipt is gone")
    return found


def _raw_receipt(w3: Web3, tx_hash: bytes) -> dict | None:
    answer = w3.provider.make_request(
        "eth_getTransactionReceipt",  # type: ignore[arg-type]
        ["0x" + bytes(tx_hash).hex()],
    )
    if "error" in answer:
        raise ChainError(f"eth_getTransactionReceipt: {answer['error']}")
    return answer.get("result")


def receipt_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """The receipt as JSON-RPC gives it, with the numbers the callers read made ints."""
    receipt = dict(raw)
    for key in ("status", "blockNumber", "gasUsed"):
        if isinstance(receipt.get(key), str):
            receipt[key] = int(receipt[key], 16)
    return receipt
