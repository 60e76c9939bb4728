"""The REST routes served from the live view: chain, nodes, training and steps (read from
memory, after one head read shared by every concurrent reader: never the records per
request), the learners' metrics, and the event stream."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from swarm_network.chain import SwarmContract, connect
from swarm_network.json_body import parse_json_body
from swarm_network.live.bus import LiveEvent
from swarm_network.live.metrics_store import MetricsStore
from swarm_network.live.trainings import TRAININGS, TrainingViews, list_trainings, view_of
from swarm_network.live.view import LiveView
from swarm_network.rest.errors import json_error

RPC_URL = web.AppKey("live_rpc_url", str)
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
MAX_METRICS_BODY = 16 * 1024
MAX_METRICS_PAGE = 1000
HEARTBEAT_S = 15.0


@dataclass(frozen=True)
class LiveSource:
    """What the live view needs to follow the chain."""

    contract_address: str
    rpc_url: str  # the chain's JSON-RPC endpoint, read directly
    sentinel_url: str | None  # where this node relays metrics; None on the sentinel itself


def int_param(raw: str, name: str, *, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise web.HTTPBadRequest(reason=f"{name} must be >= {minimum}")
    return value


def _address_param(request: web.Request) -> str:
    address = request.match_info["address"]
    if not ADDRESS_RE.fullmatch(address):
        raise web.HTTPBadRequest(reason="address must be 0x followed by 40 hex digits")
    return address


async def chain_info(request: web.Request) -> web.Response:
    view = await view_of(request)
    state = await view.current()
    return web.json_response(
        {
            "chain_id": state.chain_id,
            "block_number": state.block_number,
            "contract_address": view.contract.address,
            "rpc_url": request.app[RPC_URL],
            "rpc_proxy_path": "/rpc",
        }
    )


async def list_nodes(request: web.Request) -> web.Response:
    return web.json_response((await (await view_of(request)).current()).nodes_doc())


async def get_node(request: web.Request) -> web.Response:
    address = _address_param(request)
    doc = (await (await view_of(request)).current()).node_doc(address)
    if doc is None:
        return json_error(404, f"no enrolled node {address}")
    return web.json_response(doc)


async def node_metrics(request: web.Request) -> web.Response:
    address = _address_param(request)
    view = await view_of(request)
    node = (await view.current()).node_doc(address)
    if node is None:
        return json_error(404, f"no enrolled node {address}")
    return web.json_response({"address": node["address"], "history": view.metrics.history(address)})


async def training(request: web.Request) -> web.Response:
    return web.json_response((await (await view_of(request)).current()).training_doc())


async def list_steps(request: web.Request) -> web.Response:
    limit = int_param(request.query.get("limit", "10"), "limit", minimum=1)
    return web.json_response((await (await view_of(request)).current()).steps_doc(limit))


async def get_step(request: web.Request) -> web.Response:
    step = int_param(request.match_info["step"], "step")
    doc = (await (await view_of(request)).current()).step_doc(step)
    if doc is None:
        return json_error(404, f"step {step} does not exist yet")
    return web.json_response(doc)


async def step_timings(request: web.Request) -> web.Response:
    step = int_param(request.match_info["step"], "step")
    view = await view_of(request)
    if step > (await view.current()).current_step:
        return json_error(404, f"step {step} does not exist yet")
    return web.json_response({"step": step, "learners": view.metrics.step_timings(step)})


async def list_metrics(request: web.Request) -> web.Response:
    since = int_param(request.query.get("since", "0"), "since")
    limit = int_param(request.query.get("limit", str(MAX_METRICS_PAGE)), "limit", minimum=1)
    store: MetricsStore = (await view_of(request)).metrics
    docs, next_cursor = store.since(since, min(limit, MAX_METRICS_PAGE))
    return web.json_response(
        {"documents": [d.to_json() for d in docs], "next": next_cursor, "end": store.end}
    )


async def post_metrics(request: web.Request) -> web.Response:
    raw = await request.read()
    if len(raw) > MAX_METRICS_BODY:
        return json_error(413, f"a metrics document is at most {MAX_METRICS_BODY} bytes")
    try:
        body = parse_json_body(raw)
    except ValueError:
        return json_error(400, "request body is not valid JSON (or nested too deep)")
    view = await view_of(request)
    doc, new = await view.inbox.accept(body)
    if new and view.relay is not None:
        view.relay.forward(doc)
    return web.json_response({"address": doc.address, "step": doc.step, "new": new})


async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: every live event as `event: <type>` with a JSON `data` line.
    `Last-Event-ID` (sent by browsers on reconnect) replays what was missed, if recent."""
    bus = (await view_of(request)).bus
    after = request.headers.get("Last-Event-ID") or request.query.get("after")
    after_id = int_param(after, "Last-Event-ID") if after else None
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    queue = bus.subscribe()
    sent = after_id or 0
    try:
        await response.write(b"retry: 2000\n\n")
        for event in bus.recent(after_id):
            await response.write(event.sse())
            sent = event.id
        while True:
            try:
                event: LiveEvent | None = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event is None:
                break
            if event.id > sent:
                await response.write(event.sse())
                sent = event.id
    except ConnectionResetError:
        pass
    finally:
        bus.unsubscribe(queue)
    return response


def live_routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/chain", chain_info),
        web.get("/v1/nodes", list_nodes),
        web.get("/v1/nodes/{address}", get_node),
        web.get("/v1/nodes/{address}/metrics", node_metrics),
        web.get("/v1/training", training),
        web.get("/v1/steps", list_steps),
        web.get("/v1/steps/{step}", get_step),
        web.get("/v1/steps/{step}/timings", step_timings),
        web.get("/v1/metrics", list_metrics),
        web.post("/v1/metrics", post_metrics),
        web.get("/v1/stream", events),
        web.get("/v1/trainings", list_trainings),
    ]


async def _end_streams(app: web.Application) -> None:
    trainings = app.get(TRAININGS)
    if trainings is not None:
        trainings.close_streams()  # before the server waits for open requests: streams end


def install_live_routes(app: web.Application) -> None:
    """The live view's routes and hooks; the view itself is started by the node's lifecycle
    (`run_live_view`), once the node knows its contract."""
    app.on_shutdown.append(_end_streams)
    app.add_routes(live_routes())


async def run_live_view(app: web.Application, source: LiveSource) -> AsyncIterator[None]:
    """Start the live view for `source` and stop it again: a step of the node's lifecycle."""
    # Its own read-only client: the view's polling never waits behind the node's transactions.
    contract = SwarmContract(w3=connect(source.rpc_url), address=source.contract_address)
    view = LiveView(contract=contract, sentinel_url=source.sentinel_url)
    app[TRAININGS] = TrainingViews(
        default=view, rpc_url=source.rpc_url, sentinel_url=source.sentinel_url
    )
    app[RPC_URL] = source.rpc_url
    view.start()
    yield
    await app[TRAININGS].stop()
    await view.stop()
