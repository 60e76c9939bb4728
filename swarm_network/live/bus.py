"""Fan-out of live events to Server-Sent-Events clients, with a short replay buffer so that a
client that reconnects (`Last-Event-ID`) misses nothing recent."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

REPLAY_EVENTS = 1000
SUBSCRIBER_QUEUE = 1000


@dataclass(frozen=True)
class LiveEvent:
    id: int
    type: str
    data: dict[str, Any]

    def sse(self) -> bytes:
        payload = json.dumps({"type": self.type, **self.data}, separators=(",", ":"))
        return f"id: {self.id}\nevent: {self.type}\ndata: {payload}\n\n".encode()


class EventBus:
    """Lives in one event loop: publish and subscribe from coroutines of that loop only."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._recent: deque[LiveEvent] = deque(maxlen=REPLAY_EVENTS)
        self._subscribers: set[asyncio.Queue[LiveEvent | None]] = set()

    def publish(self, type_: str, data: dict[str, Any]) -> LiveEvent:
        event = LiveEvent(id=next(self._ids), type=type_, data=data)
        self._recent.append(event)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                # A client that does not read is cut off rather than let memory grow; its
                # browser reconnects with Last-Event-ID and gets the replay.
                log.info("dropping a live-event client that fell %d events behind", queue.qsize())
                self._subscribers.discard(queue)
                queue.get_nowait()
                queue.put_nowait(None)
        return event

    def recent(self, after_id: int | None = None) -> list[LiveEvent]:
        if after_id is None:
            return []
        return [e for e in self._recent if e.id > after_id]

    def subscribe(self) -> asyncio.Queue[LiveEvent | None]:
        queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[LiveEvent | None]) -> None:
        self._subscribers.discard(queue)

    def close(self) -> None:
        """Tell every client the stream ends (the node stops)."""
        for queue in list(self._subscribers):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)
        self._subscribers.clear()
