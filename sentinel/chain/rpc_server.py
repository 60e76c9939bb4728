"""HTTP JSON-RPC 2.0 front of the embedded chain, so any Ethereum client can use it.

The event loop only reads, parses and writes; the chain's work runs off the loop, because a
transaction takes tens of milliseconds of CPU in py-evm, which would otherwise stall every
other request (and the sentinel's REST API sharing the loop). Each request runs in its
method's lane (`rpc_lanes`), a thread of its own: reads of committed data, calls (one at a
time, clients in turn: `call_queue`), and the chain's own work (transactions, filters) one at
a time, so an endless eth_call delays neither a block number nor a transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from sentinel.chain.call_queue import CallClient, CallQueue, CallsRefused
from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.rpc_format import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    RpcError,
)
from sentinel.chain.rpc_lanes import Lane, lane_of
from swarm_network.json_body import parse_json_body

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_BATCH = 1000  # geth's default batch limit
INLINE_PARSE_BYTES = 64 * 1024
LIMIT_EXCEEDED = -32005  # EIP-1474
READ_THREADS = 2  # a slow read (logs of many blocks) does not hold a block number

CHAIN_KEY = web.AppKey("chain", EmbeddedChain)
LANES_KEY = web.AppKey("lane_executors", dict)
CALL_QUEUE_KEY = web.AppKey("call_queue", CallQueue)
MAX_BATCH_KEY = web.AppKey("max_batch", int)
MAX_BODY_KEY = web.AppKey("max_body_bytes", int)

JsonId = str | int | float | None


def create_rpc_app(
    chain: EmbeddedChain,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> web.Application:
    """An aiohttp app answering JSON-RPC 2.0 (single or batch) on `POST /` for `chain`.

    `GET /` describes the endpoint. The lanes' threads live as long as the app runs (they
    are started and shut down by the app's cleanup context).
    """
    app = web.Application(client_max_size=max_body_bytes)
    app[CHAIN_KEY] = chain
    app[MAX_BODY_KEY] = max_body_bytes
    app[MAX_BATCH_KEY] = max_batch
    app.cleanup_ctx.append(_lane_workers)
    app.router.add_post("/", _handle_post)
    app.router.add_get("/", _handle_get)
    return app


async def _lane_workers(app: web.Application) -> AsyncIterator[None]:
    executors = {
        Lane.READ: ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="chain-read"),
        Lane.CALL: ThreadPoolExecutor(max_workers=1, thread_name_prefix="chain-call"),
        Lane.CHAIN: ThreadPoolExecutor(max_workers=1, thread_name_prefix="chain-rpc"),
    }
    app[LANES_KEY] = executors
    app[CALL_QUEUE_KEY] = calls = CallQueue(executors[Lane.CALL])
    calls.start()
    try:
        yield
    finally:
        await calls.stop()
        for executor in executors.values():
            executor.shutdown(wait=True, cancel_futures=True)


async def _handle_get(request: web.Request) -> web.Response:
    chain = request.app[CHAIN_KEY]
    return web.json_response(
        {
            "service": "swarm sentinel embedded chain",
            "protocol": "JSON-RPC 2.0 over HTTP POST to this URL (single or batch)",
            "chainId": chain.chain_id,
            "methods": chain.methods,
        }
    )


async def _handle_post(request: web.Request) -> web.Response:
    app = request.app
    body = await _read_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        if len(body) > INLINE_PARSE_BYTES:  # big bodies take long to parse: not on the loop
            payload = await asyncio.to_thread(parse_json_body, body)
        else:
            payload = parse_json_body(body)
    except (ValueError, RecursionError):
        return _json(_error_response(None, PARSE_ERROR, "parse error"))
    client = CallClient(
        address=request.remote or "", forwarded_for=request.headers.get("X-Forwarded-For", "")
    )
    if isinstance(payload, list):
        answer = await _run_batch(app, payload, client)
    else:
        answers = await _run_in_lanes(app, [payload], client)
        answer = answers[0] if answers else None
    if answer is None:
        return web.Response(status=204)  # notifications only: nothing to answer
    return _json(answer)


async def _read_body(request: web.Request) -> bytes | web.Response:
    """The request body, or a JSON-RPC error response if it exceeds the limit."""
    limit = request.app[MAX_BODY_KEY]
    too_large = _error_response(None, INVALID_REQUEST, f"request body too large (max {limit} B)")
    if request.content_length is not None and request.content_length > limit:
        return _json(too_large, status=413)
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _json(too_large, status=413)


async def _run_batch(
    app: web.Application, items: list[Any], client: CallClient
) -> list[dict[str, Any]] | dict | None:
    if not items:
        return _error_response(None, INVALID_REQUEST, "empty batch")
    if len(items) > app[MAX_BATCH_KEY]:
        return _error_response(
            None, INVALID_REQUEST, f"batch too large (max {app[MAX_BATCH_KEY]} requests)"
        )
    answers = await _run_in_lanes(app, items, client)
    return answers or None


async def _run_in_lanes(
    app: web.Application, items: list[Any], client: CallClient
) -> list[dict[str, Any]]:
    """Answer a batch, in its order: each run of consecutive requests of one lane in one hop
    to that lane's thread (a call in its client's turn), one run after the other, so that a
    request sees what the requests before it did (a receipt asked for in the batch that sent
    the transaction, as geth answers it). Notifications leave no answer."""
    chain = app[CHAIN_KEY]
    loop = asyncio.get_running_loop()
    runs: list[tuple[Lane, list[int]]] = []
    for position, item in enumerate(items):
        lane = lane_of(item.get("method") if isinstance(item, dict) else None)
        if runs and runs[-1][0] is lane:
            runs[-1][1].append(position)
        else:
            runs.append((lane, [position]))
    answers: list[dict[str, Any] | None] = [None] * len(items)
    for lane, positions in runs:
        if lane is Lane.CALL:  # queued together: the client's limit of queued calls holds
            queued = [_queued_call(app, client, items[position]) for position in positions]
            for position, answer in zip(positions, await asyncio.gather(*queued), strict=True):
                answers[position] = answer
            continue

        def answer_run(positions: list[int] = positions) -> list[dict[str, Any] | None]:
            return [_answer(chain, items[position]) for position in positions]

        run_answers = await loop.run_in_executor(app[LANES_KEY][lane], answer_run)
        for position, answer in zip(positions, run_answers, strict=True):
            answers[position] = answer
    return [answer for answer in answers if answer is not None]


async def _queued_call(
    app: web.Application, client: CallClient, message: dict[str, Any]
) -> dict[str, Any] | None:
    chain = app[CHAIN_KEY]
    try:
        return await app[CALL_QUEUE_KEY].run(client, lambda: _answer(chain, message))
    except CallsRefused as exc:
        if "id" not in message:
            return None  # a notification is answered by nothing, refused or not
        request_id = message["id"]
        return _error_response(
            request_id if _valid_id(request_id) else None, LIMIT_EXCEEDED, str(exc)
        )


def _answer(chain: EmbeddedChain, message: Any) -> dict[str, Any] | None:
    """One request object -> its response object (None for a well-formed notification)."""
    if not isinstance(message, dict):
        return _error_response(None, INVALID_REQUEST, "invalid request: expected an object")
    request_id = message.get("id")
    if not _valid_id(request_id):
        return _error_response(None, INVALID_REQUEST, "invalid request: bad id")
    method = message.get("method")
    if message.get("jsonrpc", "2.0") != "2.0" or not isinstance(method, str):
        return _error_response(request_id, INVALID_REQUEST, "invalid request")
    try:
        result = chain.handle(method, message.get("params", []))
        response = {"jsonrpc": "2.0", "id": request_id, "result": result}
    except RpcError as exc:
        response = {"jsonrpc": "2.0", "id": request_id, "error": exc.to_json()}
    except Exception:  # a bug: keep serving, keep the traceback out of the answer
        log.exception("internal error answering %s", method)
        response = _error_response(request_id, INTERNAL_ERROR, "internal error")
    return response if "id" in message else None


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def _error_response(request_id: JsonId, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": RpcError(code, message).to_json()}


def _json(payload: Any, status: int = 200) -> web.Response:
    try:
        text = json.dumps(payload, separators=(",", ":"))
    except (TypeError, ValueError):
        log.exception("result is not JSON-serializable")
        text = json.dumps(_error_response(None, INTERNAL_ERROR, "internal error"))
    return web.Response(text=text, status=status, content_type="application/json")
