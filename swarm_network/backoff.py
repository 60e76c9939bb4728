"""One retry/backoff helper for every loop that waits on something outside the process (the
chain, a peer, a server coming up), so that every such loop has a bound and the same shape."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delays that grow by `factor` from `first_s` up to `max_s`, for at most `deadline_s`
    seconds in all (None: no deadline, the caller's own condition ends the loop)."""

    first_s: float = 0.1
    max_s: float = 2.0
    factor: float = 2.0
    deadline_s: float | None = None

    def delays(self) -> Iterator[float]:
        """The next delay each time; stops once the next sleep would pass the deadline."""
        delay = self.first_s
        ends = None if self.deadline_s is None else time.monotonic() + self.deadline_s
        while ends is None or time.monotonic() + delay <= ends:
            yield delay
            delay = min(delay * self.factor, self.max_s)

    def sleeps(self) -> Iterator[int]:
        """Attempt numbers 0, 1, 2... sleeping the next delay between attempts; the first
        attempt runs at once. Ends (no more attempts) once the deadline would be passed."""
        yield 0
        for attempt, delay in enumerate(self.delays(), start=1):
            time.sleep(delay)
            yield attempt

    async def async_sleeps(self) -> AsyncIterator[int]:
        """`sleeps()` for a coroutine: it awaits each delay instead of blocking, so the event
        loop goes on serving meanwhile and a node told to stop can stop while it waits."""
        yield 0
        for attempt, delay in enumerate(self.delays(), start=1):
            await asyncio.sleep(delay)
            yield attempt
