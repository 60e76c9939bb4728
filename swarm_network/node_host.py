"""One lifecycle for every network node, the sentinel included (docs/ARCHITECTURE.md).

A node is its REST app (`create_node_app`): the app's start-up brings the node up in order,
through aiohttp's own cleanup contexts, and its cleanup takes it down in the reverse order:

1. what the role needs first, given by the caller: the sentinel starts its chain and deploys
   the contract, an SN node is admitted through its sentinel. This step must leave the node's
   `NodeContext` in `app[CONTEXT]`;
2. the file server (`GET /files/<sha256>`) over the node's file store;
3. the model archive, copying the agreed models in the background.

`run_node` then listens for the REST API, announces the node, and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from swarm_network.archive import run_archives
from swarm_network.defaults import (
    FILE_PORT,
    FILE_SERVER,
    KEEP_MODELS,
    LOOPBACK,
    REST_API,
    REST_PORT,
    WILDCARD_HOSTS,
)
from swarm_network.files.server import create_file_app
from swarm_network.files.store import FileStore
from swarm_network.live import LiveSource, run_live_view
from swarm_network.rest.app import CONTEXT, create_rest_app
from swarm_network.serve import (
    Listener,
    start_listener,
    start_site,
    stop_event_on_signals,
    unless_stopped,
)

log = logging.getLogger(__name__)

# One step of a node's start-up and teardown: an aiohttp cleanup context (code before its
# `yield` starts something, code after it stops that again).
LifecycleStep = Callable[[web.Application], AsyncIterator[None]]
Announce = Callable[[dict[str, str]], None]  # told `node_info` once the node serves


@dataclass(frozen=True, kw_only=True)
class NodeConfig:
    """What every network node is told: where it keeps its files, where it listens."""

    data_dir: Path
    host: str = LOOPBACK
    rest_port: int = REST_PORT
    file_port: int = FILE_PORT
    advertise_host: str | None = None  # how other nodes reach this one, if not `host`
    keep_models: int = KEEP_MODELS

    def public_url(self, port: int) -> str:
        """The URL other nodes use for one of this node's ports. A wildcard listen address
        is not an address anyone can reach: loopback is, unless `advertise_host` says."""
        host = self.advertise_host or self.host
        if host in WILDCARD_HOSTS:
            host = LOOPBACK
        return f"http://{host}:{port}"


NODE_CONFIG = web.AppKey("node_config", NodeConfig)
FILE_STORE = web.AppKey("file_store", FileStore)


def create_node_app(config: NodeConfig, *role_start: LifecycleStep) -> web.Application:
    """The node's REST app, with the node's whole start-up and teardown in its cleanup
    contexts: first `role_start` (which sets `app[CONTEXT]`), then files, then the archive."""
    app = create_rest_app()
    app[NODE_CONFIG] = config
    app[FILE_STORE] = FileStore(config.data_dir / "files")
    app.cleanup_ctx.extend([*role_start, _live_view, _file_server, _model_archive])
    return app


async def _live_view(app: web.Application) -> AsyncIterator[None]:
    ctx = app[CONTEXT]
    source = LiveSource(ctx.contract.address, ctx.chain_rpc_url, ctx.sentinel_url)
    async for _ in run_live_view(app, source):
        yield


async def _file_server(app: web.Application) -> AsyncIterator[None]:
    config = app[NODE_CONFIG]
    files = Listener(FILE_SERVER, create_file_app(app[FILE_STORE]), config.host, config.file_port)
    runner = await start_listener(files)
    yield
    await runner.cleanup()


async def _model_archive(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_archives(
            registry=app[CONTEXT].contract,
            store=app[FILE_STORE],
            retention=app[NODE_CONFIG].keep_models,
            stop=stop,
        )
    )
    yield
    stop.set()
    await task


def node_info(app: web.Application) -> dict[str, str]:
    """What a started node tells its operator: its identity and every URL it serves."""
    config, context = app[NODE_CONFIG], app[CONTEXT]
    return {
        "role": context.role,
        "address": context.address,
        "rest_url": config.public_url(config.rest_port),
        "file_url": context.file_url,
        "rpc_url": context.chain_rpc_url,
        "contract_address": context.contract.address,
    }


async def run_node(app: web.Application, announce: Announce) -> None:
    """Start the node, listen for its REST API, `announce(node_info)` once every listener is
    up, serve until SIGINT/SIGTERM, then stop cleanly. A signal during the start-up cancels
    it; whatever had started is stopped again, in reverse order."""
    config = app[NODE_CONFIG]
    stop = stop_event_on_signals()
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    try:
        if not await unless_stopped(runner.setup(), stop):
            log.info("stopped during start-up")
            return
        await start_site(runner, REST_API, config.host, config.rest_port)
        announce(node_info(app))
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()
