"""Listening on a port and stopping on SIGINT/SIGTERM, for every server process of the swarm:
a port that cannot be bound is one clear error naming the listener (`PortInUse` for a taken
one), and a signal only sets an event, so that the node stops cleanly (its apps' cleanup runs)
instead of dying mid-request."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable
from dataclasses import dataclass

from aiohttp import web

from swarm_network.errors import listen_error
from swarm_network.http_log import quiet_bad_requests

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listener:
    name: str
    app: web.Application
    host: str
    port: int


async def start_site(runner: web.AppRunner, name: str, host: str, port: int) -> None:
    """Listen on `host:port` with a runner that is set up already."""
    quiet_bad_requests()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        raise listen_error(name, host, port, exc) from exc
    log.info("%s listening on %s:%d", name, host, port)


async def start_listener(listener: Listener) -> web.AppRunner:
    """Set up `listener.app` (its start-up hooks run) and listen; on failure nothing is left
    running. The caller cleans the returned runner up."""
    runner = web.AppRunner(listener.app, access_log=None, handle_signals=False)
    try:
        await runner.setup()
        await start_site(runner, listener.name, listener.host, listener.port)
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def stop_event_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def unless_stopped(work: Awaitable[None], stop: asyncio.Event) -> bool:
    """Run `work` (a start-up) to its end, or cancel it as soon as `stop` is set: True when it
    finished. A node still waiting for its sentinel or replaying its chain stops at a signal."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if not stop.is_set():
            raise  # this coroutine itself was cancelled, not the start-up by a signal
        return False
    return True
