"""One job run for many callers at once, with one promise to each: the run it waits for began
after it called. That is what read-your-writes needs from the live view (a REST read reflects
every block the chain had when the read began) at the price of one chain read per burst of
readers rather than one per reader: a caller that comes while a run is going waits for the
next run, which every caller that came meanwhile shares, so N concurrent callers cost at most
two runs (docs/ARCHITECTURE.md, "Nodes")."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any


class SharedRun:
    """Lives in one event loop. Runs never overlap; a run's exception goes to every caller
    that waited for that run."""

    def __init__(self, job: Callable[[], Awaitable[None]]) -> None:
        self._job = job
        self._running: asyncio.Task[None] | None = None
        self._next: asyncio.Task[None] | None = None

    async def __call__(self) -> None:
        if self._next is not None:  # queued, its job not begun: it begins after this call
            run = self._next
        elif self._running is None or self._running.done():
            run = self._running = self._spawn(self._run())
        else:  # the running job may have read the chain before this call: wait for the next
            run = self._next = self._spawn(self._after(self._running))
        # A caller that gives up (its request timed out) leaves the run to the others.
        await asyncio.shield(run)

    async def close(self) -> None:
        """Cancel what is queued or running (the view stops)."""
        for task in (self._next, self._running):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._next = self._running = None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        task.add_done_callback(_retrieve)
        return task

    async def _run(self) -> None:
        await self._job()

    async def _after(self, previous: asyncio.Task[None]) -> None:
        await asyncio.wait([previous])  # its outcome is its own callers'
        self._running, self._next = self._next, None
        await self._job()


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark the outcome as seen: when every caller gave up, nobody else would."""
    if not task.cancelled():
        task.exception()
