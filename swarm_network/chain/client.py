"""The one place that talks to the chain: a thin web3.py client over standard JSON-RPC.

Every node signs its own transactions locally with its own key and sends them raw, so the chain
endpoint (embedded sentinel, anvil, geth...) never holds keys and no node acts in another's name.
Blocking by design (web3's sync provider): async servers call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3Exception
from web3.providers.rpc import HTTPProvider

from contracts import load_artifact
from swarm_network.chain.records import (
    ROLE_IDS,
    Contribution,
    NodeRecord,
    StepRecord,
    StepStatus,
    SwarmSummary,
    TrainingConfig,
    contributions_from_call,
    hex_to_hash,
    node_from_call,
    step_from_call,
    step_status_from_call,
)
from swarm_network.errors import (
    ChainError,
    ChainUnavailable,
    ContractRevert,
    StaleBase,
    StepNotOpen,
)

log = logging.getLogger(__name__)

CONTRACT_NAME = "SwarmLearning"
GAS_MARGIN = 1.25
# Enough for a check-in that walks a few hundred enrolled nodes (liveLearners).
TX_GAS_LIMIT = 5_000_000
GAS_PRICE_TTL_S = 10.0
RETRY_FIRST_DELAY_S = 0.2
RETRY_MAX_DELAY_S = 5.0
T = TypeVar("T")


def connect(rpc_url: str, *, timeout_s: float = 30.0) -> Web3:
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
    return w3


def _revert_reason(exc: ContractLogicError) -> str:
    message = str(exc.message or exc)
    return message.removeprefix("execution reverted: ").strip()


#: The contract's reasons that the protocol acts on, each raised as its own type.
_TYPED_REVERTS: tuple[tuple[str, type[ContractRevert]], ...] = (
    ("step is not open", StepNotOpen),
    ("stale base", StaleBase),
)


def revert_error(reason: str) -> ContractRevert:
    """The one place a revert reason becomes an exception type."""
    for text, error in _TYPED_REVERTS:
        if text in reason:
            return error(reason)
    return ContractRevert(reason)


def _chain_call(what: str, func: Callable[[], T]) -> T:
    """Run one JSON-RPC interaction; map library errors onto our named ones."""
    try:
        return func()
    except ContractLogicError as exc:
        raise revert_error(_revert_reason(exc)) from exc
    except (requests.RequestException, OSError) as exc:
        raise ChainUnavailable(f"{what}: chain endpoint unreachable ({exc})") from exc
    except (Web3Exception, ValueError) as exc:
        raise ChainError(f"{what}: {exc}") from exc


class SwarmContract:
    """Bindings of the SwarmLearning contract for one node (one key)."""

    def __init__(
        self,
        *,
        w3: Web3,
        address: str,
        account: LocalAccount | None = None,
        receipt_timeout_s: float = 60.0,
        retry_s: float = 0.0,
    ) -> None:
        """`retry_s`: how long to keep retrying, with backoff, while the chain endpoint is
        unreachable (a restarting sentinel) before giving up with ChainUnavailable. Learners
        wait; a REST server answers 503 at once (0)."""
        artifact = load_artifact(CONTRACT_NAME)
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=artifact["abi"])
        self.account = account
        self.receipt_timeout_s = receipt_timeout_s
        self.retry_s = retry_s
        self._tx_lock = threading.Lock()
        self._nonce: int | None = None
        self._chain_id: int | None = None
        self._gas_price_cache: tuple[int, float] | None = None

    # ------------------------------------------------------------------ deployment

    @classmethod
    def deploy(cls, *, w3: Web3, account: LocalAccount, sentinel_file_url: str) -> SwarmContract:
        artifact = load_artifact(CONTRACT_NAME)
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        constructor = factory.constructor(sentinel_file_url)
        gas = _chain_call("eth_estimateGas", lambda: constructor.estimate_gas())
        tx = constructor.build_transaction(
            {
                "from": account.address,
                "gas": int(gas * GAS_MARGIN),
                "gasPrice": _chain_call("eth_gasPrice", lambda: w3.eth.gas_price),
                "nonce": _chain_call(
                    "eth_getTransactionCount",
                    lambda: w3.eth.get_transaction_count(account.address, "pending"),
                ),
                "chainId": _chain_call("eth_chainId", lambda: w3.eth.chain_id),
            }
        )
        receipt = _deliver(w3, account.sign_transaction(tx), timeout_s=120.0)
        _raise_if_reverted(receipt)
        address = receipt["contractAddress"]
        log.info("deployed %s at %s", CONTRACT_NAME, address)
        return cls(w3=w3, address=address, account=account)

    def code_matches_artifact(self) -> bool:
        """True when the address holds our contract's runtime code (not some other contract)."""
        code = _chain_call("eth_getCode", lambda: self.w3.eth.get_code(self.address))
        return bytes(code).hex() == load_artifact(CONTRACT_NAME)["deployedBytecode"][2:]

    # ------------------------------------------------------------------ transactions

    def transact(self, function_name: str, *args: Any) -> dict[str, Any]:
        """Sign and send one contract call; returns the receipt or raises ContractRevert.

        The call is dry-run first (an eth_call surfaces the revert reason before anything is
        sent), then sent with a fixed gas limit: eth_estimateGas is a binary search of many
        executions (about 5x one eth_call on py-evm) and would sit on every sync step's hot
        path, while only the gas used is paid.
        """
        fn = getattr(self.contract.functions, function_name)(*args)

        def dry_run() -> None:
            # On the pending block, i.e. the block the transaction would land in: its
            # timestamp is now. On "latest", geth and anvil use the last block's timestamp,
            # so on an idle chain a deadline (a grace period) would never seem to pass, no
            # transaction would be sent, and no block would ever move the time on.
            _chain_call(
                "eth_call",
                lambda: fn.call({"from": self._key().address}, block_identifier="pending"),
            )

        def build(nonce: int) -> dict[str, Any]:
            dry_run()
            return fn.build_transaction(
                {
                    "from": self._key().address,
                    "gas": TX_GAS_LIMIT,
                    "gasPrice": self._gas_price(),
                    "nonce": nonce,
                    "chainId": self.chain_id,
                }
            )

        try:
            return self._send(build)
        except ContractRevert as exc:
            if exc.reason != REVERTED_WITHOUT_REASON:
                raise
            # Another node changed the state between our dry run and the block (a race lost,
            # e.g. two learners configuring the training). Chains that keep no reason in the
            # receipt (anvil, geth) still tell why it would fail now: callers match on that.
            dry_run()
            raise

    def send_value(self, to: str, wei: int) -> dict[str, Any]:
        def build(nonce: int) -> dict[str, Any]:
            return {
                "to": Web3.to_checksum_address(to),
                "value": wei,
                "gas": 21_000,
                "gasPrice": self._gas_price(),
                "nonce": nonce,
                "chainId": self.chain_id,
            }

        return self._send(build)

    def _key(self) -> LocalAccount:
        if self.account is None:
            raise ChainError("this client has no key; it can only read")
        return self.account

    def _send(self, build: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
        """Sign once, then deliver that exact transaction until it is mined.

        If the endpoint goes away mid-way (a sentinel restarting), the same signed bytes are
        sent again once it is back: the same hash, so it is applied at most once, and a
        transaction the chain lost before confirming it is applied again.
        """
        account = self._key()
        deadline = time.monotonic() + self.retry_s
        delay = RETRY_FIRST_DELAY_S
        signed = None
        with self._tx_lock:
            while True:
                try:
                    if signed is None:
                        if self._nonce is None:
                            self._nonce = self._pending_nonce()
                        signed = account.sign_transaction(build(self._nonce))
                    receipt = _deliver(self.w3, signed, self.receipt_timeout_s)
                    break
                except ChainUnavailable:
                    if time.monotonic() + delay > deadline:
                        self._nonce = None  # whether it went through is unknown: re-read
                        raise
                    log.warning("chain unreachable; retrying in %.1fs", delay)
                    time.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_DELAY_S)
                except ChainError:
                    self._nonce = None  # re-read: the tx may or may not have gone through
                    raise
            self._nonce += 1  # mined, even if it reverted (e.g. lost a closeStep race)
        _raise_if_reverted(receipt)
        return receipt

    def _pending_nonce(self) -> int:
        assert self.account is not None
        address = self.account.address
        return _chain_call(
            "eth_getTransactionCount",
            lambda: self.w3.eth.get_transaction_count(address, "pending"),
        )

    def _gas_price(self) -> int:
        """Gas price, re-read at most every GAS_PRICE_TTL_S (one read less on the hot path)."""
        now = time.monotonic()
        if self._gas_price_cache is None or now - self._gas_price_cache[1] > GAS_PRICE_TTL_S:
            price = _chain_call("eth_gasPrice", lambda: self.w3.eth.gas_price)
            self._gas_price_cache = (price, now)
        return self._gas_price_cache[0]

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = _chain_call("eth_chainId", lambda: self.w3.eth.chain_id)
        return self._chain_id

    # ------------------------------------------------------------------ writes

    def enroll(self, node: str, role: str, file_url: str) -> None:
        self.transact("enroll", Web3.to_checksum_address(node), ROLE_IDS[role], file_url)

    def set_file_url(self, file_url: str) -> None:
        self.transact("setFileUrl", file_url)

    def configure_training(
        self,
        *,
        min_peers: int,
        grace_seconds: int,
        merge_method: str,
        merge_params: str,
        max_staleness: int = 0,
    ) -> None:
        self.transact(
            "configureTraining", min_peers, grace_seconds, max_staleness, merge_method, merge_params
        )

    def check_in(
        self, *, step: int, weight_hash: str, weightage: int, base_hash: str, rejected_mask: int = 0
    ) -> None:
        self.transact(
            "checkIn",
            step,
            hex_to_hash(weight_hash),
            weightage,
            hex_to_hash(base_hash),
            rejected_mask,
        )

    def close_step(self, step: int) -> None:
        self.transact("closeStep", step)

    def report_merge(self, step: int, merged_hash: str, rejected_mask: int = 0) -> None:
        self.transact("reportMerge", step, hex_to_hash(merged_hash), rejected_mask)

    def settle_merge(self, step: int) -> None:
        self.transact("settleMerge", step)

    def finish(self) -> None:
        self.transact("finish")

    # ------------------------------------------------------------------ reads

    def _read(self, function_name: str, *args: Any) -> Any:
        fn = getattr(self.contract.functions, function_name)(*args)
        return self._retrying(function_name, fn.call)

    def _retrying(self, what: str, func: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.retry_s
        delay = RETRY_FIRST_DELAY_S
        while True:
            try:
                return _chain_call(what, func)
            except ChainUnavailable:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("chain unreachable for %s; retrying in %.1fs", what, delay)
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY_S)

    def block_number(self) -> int:
        return self._retrying("eth_blockNumber", lambda: self.w3.eth.block_number)

    def current_step(self) -> int:
        return int(self._read("currentStep"))

    def training_config(self) -> TrainingConfig:
        return TrainingConfig(
            configured=bool(self._read("configured")),
            min_peers=int(self._read("minPeers")),
            grace_seconds=int(self._read("graceSeconds")),
            max_staleness=int(self._read("maxStaleness")),
            merge_method=str(self._read("mergeMethod")),
            merge_params=str(self._read("mergeParams")),
        )

    def node(self, address: str) -> NodeRecord:
        checksum = Web3.to_checksum_address(address)
        return node_from_call(checksum, self._read("getNode", checksum))

    def nodes(self) -> list[NodeRecord]:
        return [self.node(address) for address in self._read("getNodes")]

    def step(self, step: int) -> StepRecord:
        return step_from_call(step, self._read("getStep", step))

    def contributions(self, step: int) -> list[Contribution]:
        return contributions_from_call(self._read("getContributions", step))

    def step_status(self, step: int) -> StepStatus:
        return step_status_from_call(self._read("stepStatus", step))

    def unfinished_learners(self) -> int:
        return int(self._read("learnerCount")) - int(self._read("finishedCount"))

    def effective_quorum(self) -> int:
        return int(self._read("effectiveQuorum"))

    def live_learners(self, step: int) -> int:
        return int(self._read("liveLearners", step))

    def summary(self) -> SwarmSummary:
        current = self.current_step()
        return SwarmSummary(
            block_number=self.block_number(),
            current_step=current,
            learner_count=int(self._read("learnerCount")),
            finished_count=int(self._read("finishedCount")),
            effective_quorum=self.effective_quorum(),
            live_learners=self.live_learners(current),
            open_step=self.step(current),
            config=self.training_config(),
        )


def _raise_if_reverted(receipt: dict[str, Any]) -> None:
    """A mined transaction that reverted: the state changed under us between the dry run and
    the block (another node got there first). Its reason is in the receipt where the chain
    records one (our embedded chain), else only the fact (`transact` then asks again)."""
    if receipt["status"] == 1:
        return
    raise revert_error(_decode_revert_reason(receipt.get("revertReason")))


ERROR_STRING_SELECTOR = "0x08c379a0"
REVERTED_WITHOUT_REASON = "reverted after the dry run passed"


def _decode_revert_reason(raw: object) -> str:
    """Receipts carry the reason as Error(string) ABI data (Besu's convention) or as text."""
    if not raw:
        return REVERTED_WITHOUT_REASON
    text = str(raw)
    if text.startswith(ERROR_STRING_SELECTOR):
        try:
            (reason,) = abi_decode(["string"], bytes.fromhex(text[len(ERROR_STRING_SELECTOR) :]))
            return str(reason)
        except (ValueError, TypeError, DecodingError):
            return text
    return text.removeprefix("execution reverted: ")


ALREADY_SENT = ("nonce too low", "already known", "known transaction")


def _deliver(w3: Web3, signed: Any, timeout_s: float) -> dict[str, Any]:
    """Send signed bytes and wait for their receipt. A chain that says it has seen this nonce
    may hold this very transaction (sent before a reconnect): its receipt then answers."""
    tx_hash = signed.hash
    try:
        _chain_call(
            "eth_sendRawTransaction", lambda: w3.eth.send_raw_transaction(signed.raw_transaction)
        )
    except ChainUnavailable:
        raise
    except ChainError as exc:
        if not any(marker in str(exc).lower() for marker in ALREADY_SENT):
            raise
        receipt = _chain_call("eth_getTransactionReceipt", lambda: _receipt_or_none(w3, tx_hash))
        if receipt is None:
            raise
        return dict(receipt)
    started = time.monotonic()
    receipt = _chain_call(
        "eth_getTransactionReceipt",
        lambda: w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout_s, poll_latency=0.02),
    )
    log.debug("tx %s mined in %.1f ms", tx_hash.hex(), (time.monotonic() - started) * 1000)
    return dict(receipt)


def _receipt_or_none(w3: Web3, tx_hash: bytes) -> Any:
    try:
        return w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        return None
