"""The SN node's REST API over chain state (default port 30304).

Every handler is thin: parse, read the chain in a worker thread (web3 is blocking), turn the
records into JSON with `views`. Learners also join and reach the chain through here (`/v1/join`,
`/rpc`), so a learner needs to know only one URL: its SN node's.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from swarm_network.admission import Admission, JoinRequest
from swarm_network.chain.client import SwarmContract
from swarm_network.dashboard import dashboard_routes
from swarm_network.json_body import parse_json_body
from swarm_network.live import LiveSource, install_live
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
    return web.json_response(
        {**result, "contract_address": ctx.contract.address, "chain_id": ctx.contract.chain_id}
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


async def rpc_proxy(request: web.Request) -> web.Response:
    """Pass JSON-RPC through to the chain, byte for byte, so learners need only this URL."""
    ctx = request.app[CONTEXT]
    body = await request.read()
    try:
        async with request.app[HTTP].post(
            ctx.chain_rpc_url, data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            payload = await resp.read()
            return web.Response(body=payload, status=resp.status, content_type="application/json")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return web.json_response(
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32000, "message": f"chain unreachable: {exc}"},
            },
            status=502,
        )


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


async def _http_session(app: web.Application):  # type: ignore[no-untyped-def]
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        app[HTTP] = session
        yield


def create_rest_app(context: NodeContext) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=MAX_BODY_BYTES)
    app[CONTEXT] = context
    app.cleanup_ctx.append(_http_session)
    # live view: chain/nodes/training/steps, metrics, /v1/events, dashboard (docs/ARCHITECTURE.md)
    install_live(
        app, LiveSource(context.contract.address, context.chain_rpc_url, context.sentinel_url)
    )
    app.add_routes(
        [
            web.get("/v1/health", health),
            web.post("/v1/join", join),
            web.post("/rpc", rpc_proxy),
            web.get("/openapi.json", openapi),
        ]
    )
    app.add_routes(dashboard_routes())
    return app
