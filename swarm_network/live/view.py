"""One SN node's live view: the chain state kept by the follower, the event bus, the metrics
and, on nodes other than the sentinel, the relay. Started and stopped with the REST app."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from swarm_network.chain import SwarmContract
from swarm_network.errors import ChainError, ChainUnavailable
from swarm_network.live.bus import EventBus
from swarm_network.live.follower import ChainFollower
from swarm_network.live.inbox import MetricsInbox
from swarm_network.live.metrics_store import MetricsStore
from swarm_network.live.relay import MetricsRelay
from swarm_network.live.state import LiveState
from swarm_network.trainings import DEFAULT_TRAINING

log = logging.getLogger(__name__)

#: A read waits this long at most for the view to catch up with the chain; past it (a chain
#: that is down or swamped) it gets the last state, or 503 before the first read of the chain.
CATCH_UP_WAIT_S = 10.0


class LiveView:
    def __init__(
        self,
        *,
        contract: SwarmContract,
        sentinel_url: str | None,
        poll_s: float | None = None,
        training: str = DEFAULT_TRAINING,
    ) -> None:
        self.contract = contract
        self.training = training
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
            store=self.metrics, bus=self.bus, state=self.state, catch_up=self.current
        )
        self.relay = (
            None
            if sentinel_url is None
            else MetricsRelay(sentinel_url=sentinel_url, inbox=self.inbox, training=training)
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
        await self.follower.close()

    async def current(self) -> LiveState:
        """The state at (at least) the block the chain had when this was called: one shared
        head read, and the new events when there are any. When the chain cannot answer in
        time, the last state (what the node saw before the chain went away)."""
        try:
            await asyncio.wait_for(self.follower.catch_up(), timeout=CATCH_UP_WAIT_S)
        except (ChainError, TimeoutError) as exc:
            if not self.state.ready:
                raise ChainUnavailable(f"the live view has not read the chain yet: {exc}") from None
            log.debug("live view: answering from block %d (%s)", self.state.block_number, exc)
        return self.state
