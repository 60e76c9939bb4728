"""The JSON-RPC connection: web3.py over HTTP, its errors mapped onto ours, reads retried.

Only standard JSON-RPC is used, so the endpoint may be the embedded sentinel, anvil, geth...
Blocking by design (web3's sync provider): async servers call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import requests
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception
from web3.providers.rpc import HTTPProvider

from swarm_network.backoff import Backoff
from swarm_network.chain.reverts import hex_revert_data, revert_error
from swarm_network.errors import ChainError, ChainUnavailable, ContractRevert

log = logging.getLogger(__name__)

# While the endpoint is unreachable (a sentinel restarting): 0.2 s doubling up to 5 s.
RETRY_FIRST_DELAY_S = 0.2
RETRY_MAX_DELAY_S = 5.0
LIMIT_EXCEEDED = -32005  # EIP-1474
T = TypeVar("T")


def connect(rpc_url: str, *, timeout_s: float = 30.0) -> Web3:
    """web3 without its validation middleware: that one asks the node for `eth_chainId`
    before every eth_call and eth_estimateGas (a second round trip for each read, about a
    fifth of a learner's time per step), to check a `chainId` that our calls never carry;
    transactions are signed locally with the chain id read once (`TransactionSender`)."""
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
    w3.middleware_onion.remove("validation")
    return w3


def retry_backoff(retry_s: float) -> Backoff:
    """The delays between attempts while the chain is unreachable, for at most `retry_s`."""
    return Backoff(first_s=RETRY_FIRST_DELAY_S, max_s=RETRY_MAX_DELAY_S, deadline_s=retry_s)


def chain_call(what: str, func: Callable[[], T]) -> T:
    """Run one JSON-RPC interaction; map library errors onto our named ones."""
    try:
        return func()
    except ContractLogicError as exc:
        raise call_revert(exc) from exc
    except (requests.RequestException, OSError) as exc:
        raise ChainUnavailable(f"{what}: chain endpoint unreachable ({exc})") from exc
    except (Web3Exception, ValueError) as exc:
        if _limit_exceeded(exc):
            raise ChainUnavailable(f"{what}: chain endpoint busy ({exc})") from exc
        raise ChainError(f"{what}: {exc}") from exc


def _limit_exceeded(exc: Exception) -> bool:
    """EIP-1474's -32005 "limit exceeded": the endpoint is busy (the sentinel's fair call
    queue refuses a client with too many calls waiting, as rate-limited public nodes do). It
    is transient, so it is retried like an unreachable endpoint, never fatal: a swarm of 16
    learners behind one SN node on one machine meets it (they share one client address)."""
    response = getattr(exc, "rpc_response", None)
    error = response.get("error") if isinstance(response, dict) else None
    if isinstance(error, dict):
        return error.get("code") == LIMIT_EXCEEDED
    return f"'code': {LIMIT_EXCEEDED}" in str(exc)


def call_revert(exc: ContractLogicError) -> ContractRevert:
    """The refusal in a reverted eth_call or eth_estimateGas. Every node we support answers
    with the revert data (`{"code": 3, "data": "0x..."}`), which web3 keeps in `exc.data`;
    a node that sends only a message still gets its message shown."""
    data = exc.data.get("data") if isinstance(exc.data, dict) else exc.data
    raw = hex_revert_data(data)
    if raw is not None:
        return revert_error(raw)
    message = str(exc.message or exc)
    return ContractRevert(message.removeprefix("execution reverted: ").strip())


def retrying(what: str, func: Callable[[], T], *, retry_s: float) -> T:
    """`chain_call`, tried again with backoff while the endpoint is unreachable, for at most
    `retry_s` seconds (0: fail at once, as a REST server answering 503 wants)."""
    delays = retry_backoff(retry_s).delays()
    while True:
        try:
            return chain_call(what, func)
        except ChainUnavailable:
            delay = next(delays, None)
            if delay is None:
                raise
            log.warning("chain unreachable for %s; retrying in %.1fs", what, delay)
            time.sleep(delay)
