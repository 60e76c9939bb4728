"""One SN node's live view: the chain state kept by the follower, the event bus, the metrics
and, on nodes other than the sentinel, the relay. Started and stopped with the REST app."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from swarm_network.chain import SwarmContract
from swarm_network.errors import ChainUnavailable
from swarm_network.live.bus import EventBus
from swarm_network.live.follower import ChainFollower
from swarm_network.live.inbox import MetricsInbox
from swarm_network.live.metrics_store import MetricsStore
from swarm_network.live.relay import MetricsRelay
from swarm_network.live.state import LiveState

log = logging.getLogger(__name__)

READY_WAIT_S = 10.0


class LiveView:
    def __init__(
        self, *, contract: SwarmContract, sentinel_url: str | None, poll_s: float | None = None
    ) -> None:
        self.contract = contract
        self.state = LiveState()
        self.bus = EventBus()
        self.follower = ChainFollower(
            contract=contract,
            state=self.state,
            bus=self.bus,
            **({} if poll_s is None else {"poll_s": poll_s}),
        )
        self.metrics = MetricsStore()
        self.inbox = MetricsInbox(
            store=self.metrics, bus=self.bus, state=self.state, contract=contract
        )
        self.relay = (
            None
            if sentinel_url is None
            else MetricsRelay(sentinel_url=sentinel_url, inbox=self.inbox)
        )
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._stop.clear()
        self._tasks = [asyncio.create_task(self.follower.run(self._stop), name="live-follower")]
        if self.relay is not None:
            self._tasks.append(
                asyncio.create_task(self.relay.run(self._stop), name="metrics-relay")
            )

    async def stop(self) -> None:
        self._stop.set()
        self.bus.close()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def ready(self) -> LiveState:
        """The state, once the first read of the chain is done (bounded wait)."""
        if not self.follower.ready.is_set():
            try:
                await asyncio.wait_for(self.follower.ready.wait(), timeout=READY_WAIT_S)
            except TimeoutError:
                raise ChainUnavailable("the live view has not read the chain yet") from None
        return self.state
