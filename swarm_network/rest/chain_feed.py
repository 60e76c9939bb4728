"""The chain's contract logs pushed to learners: a long-poll route, `GET /v1/events`.

Why: a learner waiting for a step to close used to poll the contract every 20-250 ms; every
poll is a round trip, and the poll interval is latency added to every step. Here a learner
asks "what happened after block N?" and the answer comes the moment a new block exists.

How an SN node knows a block was mined without polling: every transaction of the swarm
passes through a `/rpc` proxy, and the sentinel's is the one all of them reach (an SN node
forwards `/rpc` and `/v1/events` to its sentinel, `rest/app.py`). When a raw transaction has
gone through, its receipt (sent back in the same batch, `chain/transactions.py`) names its
block, so the waiters are answered at once, without a chain read queued behind other work;
a send without a receipt makes the head be read again at once. Waiters asking for the same
blocks share one `eth_getLogs`. A slow backstop read (`BACKSTOP_S`) catches the rare
transaction sent to the chain endpoint directly (the sentinel's own enrolments, an operator's
tool); it is not on the steady path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections import OrderedDict
from typing import Any

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)

#: Head re-read when nothing was poked for this long (transactions that bypass our /rpc).
BACKSTOP_S = 1.0
#: A long-poll is answered empty after at most this long; the client asks again. Below the
#: 30 s read timeout many HTTP clients use, so that a client asking for the longest wait (or
#: none: `DEFAULT_WAIT_S`) gets an answer rather than a timeout of its own.
MAX_WAIT_S = 20.0
#: The wait of a long-poll that names no `timeout`.
DEFAULT_WAIT_S = 10.0
#: Blocks of logs in one answer; a client further behind asks again from the new head.
MAX_BLOCKS_PER_ANSWER = 1000
SEND_METHOD = b"eth_sendRawTransaction"
#: Log ranges kept for waiters that ask for the same blocks.
LOG_RANGES_KEPT = 64


class ChainHead:
    """The newest block number seen, and the requests waiting for a newer one."""

    def __init__(self) -> None:
        self.number = -1
        self._changed = asyncio.Condition()
        self._poked = asyncio.Event()
        self._log_ranges: OrderedDict[tuple[str, int, int], asyncio.Task[Any]] = OrderedDict()

    def poke(self) -> None:
        """A transaction went through: read the head now."""
        self._poked.set()

    async def sent(self, answer: bytes) -> None:
        """A send went through `/rpc` and this was the chain's answer: the block its receipt
        names is the new head; without a receipt in it, read the head."""
        number = _receipt_block(answer)
        if number is None:
            self.poke()
        else:
            await self._advance(number)

    async def _advance(self, number: int) -> None:
        if number > self.number:
            async with self._changed:
                self.number = number
                self._changed.notify_all()

    def logs(
        self, session: aiohttp.ClientSession, rpc_url: str, address: str, first: int, last: int
    ) -> asyncio.Task[Any]:
        """The contract's logs of blocks first..last: one request for every waiter asking."""
        key = (address, first, last)
        task = self._log_ranges.get(key)
        if task is None or (task.done() and task.exception() is not None):
            query = {"address": address, "fromBlock": hex(first), "toBlock": hex(last)}
            task = asyncio.ensure_future(rpc(session, rpc_url, "eth_getLogs", [query]))
            self._log_ranges[key] = task
            while len(self._log_ranges) > LOG_RANGES_KEPT:
                self._log_ranges.popitem(last=False)
        return task

    async def wait_beyond(self, block: int, timeout_s: float) -> int:
        """The head once it is past `block`, or the head as it is after `timeout_s`."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.number > block), timeout_s
                )
            return self.number

    async def follow(self, session: aiohttp.ClientSession, rpc_url: str) -> None:
        """Keep `number` current: at each poke, else every BACKSTOP_S. Runs until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), BACKSTOP_S)
            self._poked.clear()
            try:
                number = int(await rpc(session, rpc_url, "eth_blockNumber", []), 16)
            except (aiohttp.ClientError, TimeoutError, ValueError, LookupError) as exc:
                log.debug("chain head not read: %s", exc)
                continue
            await self._advance(number)


def _receipt_block(answer: bytes) -> int | None:
    """The block number of the (last) receipt in a JSON-RPC answer, if there is one."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        return None
    items = parsed if isinstance(parsed, list) else [parsed]
    numbers = [
        int(item["result"]["blockNumber"], 16)
        for item in items
        if isinstance(item, dict)
        and isinstance(item.get("result"), dict)
        and isinstance(item["result"].get("blockNumber"), str)
    ]
    return max(numbers) if numbers else None


async def rpc(session: aiohttp.ClientSession, url: str, method: str, params: list[Any]) -> Any:
    """One JSON-RPC call's result; ValueError for an error answer."""
    payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    async with session.post(url, json=payload) as response:
        answer = await response.json(content_type=None)
    if "error" in answer:
        raise ValueError(f"{method}: {answer['error']}")
    return answer["result"]


def _query_int(
    request: web.Request, name: str, default: float, *, minimum: float = -math.inf
) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise web.HTTPBadRequest(reason=f"{name} must be a finite number, got {raw!r}")
    if value < minimum:
        raise web.HTTPBadRequest(reason=f"{name} must be >= {minimum:g}, got {raw!r}")
    return value


async def answer_events(
    request: web.Request,
    head: ChainHead,
    session: aiohttp.ClientSession,
    rpc_url: str,
    contract_address: str,
) -> web.Response:
    """`{"head": N, "logs": [...]}`: the contract's logs of the blocks after `after`, as soon
    as there is one (or none after `timeout` seconds). Logs are standard JSON-RPC log objects."""
    after = int(_query_int(request, "after", -1, minimum=-1))  # -1: from the first block
    timeout_s = min(max(_query_int(request, "timeout", DEFAULT_WAIT_S), 0.0), MAX_WAIT_S)
    number = await head.wait_beyond(after, timeout_s)
    if number <= after:
        return web.json_response({"head": max(number, after), "logs": []})
    last = min(number, after + MAX_BLOCKS_PER_ANSWER)
    try:
        logs = await asyncio.shield(head.logs(session, rpc_url, contract_address, after + 1, last))
    except (aiohttp.ClientError, TimeoutError, ValueError, LookupError) as exc:
        raise web.HTTPServiceUnavailable(reason=f"chain unreachable: {exc}") from exc
    return web.json_response({"head": last, "logs": logs})
