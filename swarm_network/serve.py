"""Run several aiohttp apps in one event loop until SIGINT/SIGTERM, then stop them cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from swarm_network.archive import ModelArchive, run_archive

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listener:
    name: str
    app: web.Application
    host: str
    port: int


async def start_listener(listener: Listener) -> web.AppRunner:
    runner = web.AppRunner(listener.app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, listener.host, listener.port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise OSError(
            f"{listener.name}: cannot listen on {listener.host}:{listener.port}: {exc}"
        ) from exc
    log.info("%s listening on %s:%d", listener.name, listener.host, listener.port)
    return runner


def stop_event_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_with_archive(
    runners: list[web.AppRunner], stop: asyncio.Event, archive: ModelArchive
) -> None:
    """Serve until stopped, keeping copies of the agreed models meanwhile."""
    task = asyncio.create_task(run_archive(archive, stop))

    async def stop_archive() -> None:
        stop.set()
        await task

    await run_until_stopped(runners, stop, stop_archive)


async def run_until_stopped(
    runners: list[web.AppRunner],
    stop: asyncio.Event,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        if on_stop is not None:
            await on_stop()
        for runner in reversed(runners):
            await runner.cleanup()
