"""The SN node's REST API over chain state (default port `swarm_network.defaults.REST_PORT`).

Every handler is thin. Reads of the chain's state are served from the live view
(`swarm_network.live`), kept current by the contract's events, so polling clients cost the chain
nothing. Learners also join and reach the chain through here (`/v1/join`,
`/rpc`), so a learner needs to know only one URL: its SN node's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from swarm_network.admission import Admission, JoinRequest
from swarm_network.chain import SwarmContract
from swarm_network.dashboard import dashboard_routes
from swarm_network.json_body import parse_json_body
from swarm_network.live import install_live_routes
from swarm_network.live.trainings import view_of
from swarm_network.pipeline.rest import PIPELINE_ROUTES
from swarm_network.rest.chain_feed import SEND_METHOD, ChainHead, answer_events
from swarm_network.rest.errors import json_error, json_errors
from swarm_network.rest.openapi import OPENAPI

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20


@dataclass
class NodeContext:
    """What one SN node knows: its contract client, where the chain and the sentinel are."""

    role: str  # "sentinel" or "sn"
    address: str
    contract: SwarmContract
    chain_rpc_url: str  # upstream JSON-RPC endpoint that /rpc forwards to
    file_url: str
    admission: Admission | None = None  # only the sentinel admits
    sentinel_url: str | None = None  # where an SN node forwards join requests


CONTEXT = web.AppKey("context", NodeContext)
HTTP = web.AppKey("http", aiohttp.ClientSession)
HEAD = web.AppKey("chain_head", ChainHead)
HEAD_TASK = web.AppKey("chain_head_task", asyncio.Task)


async def health(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    return web.json_response({"status": "ok", "role": ctx.role, "address": ctx.address})


async def join(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    raw = await request.read()
    try:
        body = parse_json_body(raw)
    except ValueError:
        return json_error(400, "request body is not valid JSON (or nested too deep)")
    if ctx.admission is None:
        return await _forward_join(request, raw)
    join_request = JoinRequest.from_json(body)
    result = await asyncio.to_thread(ctx.admission.admit, join_request)
    # The first read of the chain id is a chain call: never on the event loop, which also
    # serves the sentinel's own chain.
    chain_id = await asyncio.to_thread(lambda: ctx.contract.chain_id)
    # `result` names the contract of the training joined (the default one: ctx.contract)
    return web.json_response(
        {"contract_address": ctx.contract.address, "chain_id": chain_id, **result}
    )


async def _forward_join(request: web.Request, raw: bytes) -> web.Response:
    """An SN node passes join requests on to the sentinel, the only node that may enrol,
    byte for byte, so the sentinel judges exactly what the node sent."""
    ctx = request.app[CONTEXT]
    if ctx.sentinel_url is None:
        return json_error(503, "this node does not know its sentinel")
    try:
        async with request.app[HTTP].post(
            f"{ctx.sentinel_url}/v1/join",
            data=raw,
            headers={"Content-Type": "application/json"},
        ) as resp:
            payload = await resp.json(content_type=None)
            return web.json_response(payload, status=resp.status)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return json_error(503, f"sentinel unreachable: {exc}")


def _rpc_upstream(ctx: NodeContext) -> str:
    """Where `/rpc` goes: an SN node's sentinel, so that every transaction of the swarm
    passes the sentinel's proxy and wakes its event feed; the sentinel's own chain."""
    if ctx.sentinel_url is not None:
        return f"{ctx.sentinel_url}/rpc"
    return ctx.chain_rpc_url


async def rpc_proxy(request: web.Request) -> web.Response:
    """Pass JSON-RPC through to the chain, byte for byte, so learners need only this URL.

    The chain is told whom the request came from (`X-Forwarded-For`, as this node saw it,
    never as the client claims), so that it takes the calls of this node's clients in turn
    rather than as one client's."""
    ctx = request.app[CONTEXT]
    body = await request.read()
    headers = {"Content-Type": "application/json", "X-Forwarded-For": request.remote or ""}
    try:
        async with request.app[HTTP].post(_rpc_upstream(ctx), data=body, headers=headers) as resp:
            payload = await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return web.json_response(
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32000, "message": f"chain unreachable: {exc}"},
            },
            status=502,
        )
    if ctx.sentinel_url is None and SEND_METHOD in body:
        await _chain_head(request.app).sent(payload)  # a block was mined: tell the waiters
    return web.Response(body=payload, status=resp.status, content_type="application/json")


async def events(request: web.Request) -> web.StreamResponse:
    """Long-poll of the contract's logs (`chain_feed`); an SN node asks its sentinel's feed,
    the one that sees every transaction."""
    ctx = request.app[CONTEXT]
    if ctx.sentinel_url is None:
        view = await view_of(request)  # `?training=`: that training's contract
        return await answer_events(
            request,
            _chain_head(request.app),
            request.app[HTTP],
            ctx.chain_rpc_url,
            view.contract.address,
        )
    try:
        async with request.app[HTTP].get(
            f"{ctx.sentinel_url}/v1/events", params=request.query
        ) as resp:
            payload = await resp.read()
            return web.Response(body=payload, status=resp.status, content_type="application/json")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return json_error(503, f"sentinel unreachable: {exc}")


def _chain_head(app: web.Application) -> ChainHead:
    """The feed's head follower, started on first use (the node's context is set by then)."""
    if HEAD not in app:
        head = ChainHead()
        app[HEAD] = head
        app[HEAD_TASK] = asyncio.create_task(head.follow(app[HTTP], app[CONTEXT].chain_rpc_url))
        head.poke()
    return app[HEAD]


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        app[HTTP] = session
        yield
        task = app.get(HEAD_TASK)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


ROUTES = [
    web.get("/v1/health", health),
    web.post("/v1/join", join),
    web.get("/v1/events", events),
    web.post("/rpc", rpc_proxy),
    web.get("/openapi.json", openapi),
    *PIPELINE_ROUTES,  # their handlers read `app[PIPELINE]`, set at start-up like CONTEXT
    *dashboard_routes(),
]


def create_rest_app() -> web.Application:
    """The API without its node: whoever starts the node puts the node's `NodeContext` in
    `app[CONTEXT]` during the app's start-up (`swarm_network.node_host`), before any request."""
    app = web.Application(middlewares=[json_errors], client_max_size=MAX_BODY_BYTES)
    app.cleanup_ctx.append(_http_session)
    app.add_routes(ROUTES)
    # chain, nodes, training, steps, metrics and the event stream, read from the live view
    # that the node's lifecycle starts (docs/ARCHITECTURE.md, "Nodes")
    install_live_routes(app)
    return app
