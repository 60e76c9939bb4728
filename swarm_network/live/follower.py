"""Keeps a `LiveState` current by following the chain: a read of the block number and, only
when blocks came, the new events (`eth_getLogs` from the last block seen), the open step's
quorum figures (one `stepStatus` call) and the newest block's time.

It catches up once per interval (for the event stream) and whenever a REST read asks
(`catch_up`), so that a read reflects every block the chain had when it began (a client that
sent a transaction and then reads sees it). Concurrent readers share one catch-up
(`SharedRun`): what the view costs the chain depends on how busy the chain is and how often
readers come in bursts, not on how many clients read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from swarm_network.backoff import Backoff
from swarm_network.chain import SwarmContract
from swarm_network.chain.logs import ContractEvent, EventReader
from swarm_network.errors import ChainError
from swarm_network.live.bus import EventBus
from swarm_network.live.event_docs import actor, live_events
from swarm_network.live.shared_run import SharedRun
from swarm_network.live.state import LiveState

log = logging.getLogger(__name__)

POLL_S = 0.25
LOG_CHUNK_BLOCKS = 5_000
#: Backoff while the chain is unreachable (a restarting sentinel); the last state is served.
RETRY = Backoff(first_s=0.5, max_s=5.0)


class ChainFollower:
    def __init__(
        self,
        *,
        contract: SwarmContract,
        state: LiveState,
        bus: EventBus,
        poll_s: float = POLL_S,
    ) -> None:
        self.contract = contract
        self.reader = EventReader(contract)
        self.state = state
        self.bus = bus
        self.poll_s = poll_s
        self.catch_up = SharedRun(self._tick)
        """Await to have the state at (at least) the block the chain had when awaited."""

    async def run(self, stop: asyncio.Event) -> None:
        """Follow until `stop` is set; while the chain is unreachable keep serving the last
        state and retry with backoff."""
        delays = RETRY.delays()
        while not stop.is_set():
            try:
                await self.catch_up()
                delays = RETRY.delays()
                wait_s = self.poll_s
            except ChainError as exc:
                wait_s = next(delays)
                log.warning("live view: chain unavailable (%s); retrying in %.1fs", exc, wait_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait_s)

    async def close(self) -> None:
        await self.catch_up.close()

    async def _tick(self) -> None:
        head = await asyncio.to_thread(self.reader.head)
        last = self.state.block_number
        if head == last:
            return
        if head < last:
            log.warning("chain went back from block %d to %d; reading it anew", last, head)
            self.state.reset()  # not expected on a chain without reorgs, but safe
            last = -1
        started = time.monotonic()
        first_load = last < 0
        events = await self._events(last + 1, head)
        times = await self._block_times(events, head, first_load=first_load)
        status = await asyncio.to_thread(self.contract.step_status, self._open_step(events))
        if self.state.chain_id is None:
            self.state.chain_id = await asyncio.to_thread(lambda: self.contract.chain_id)
        changes = self.state.apply(events, times, status, head)
        for event in events:
            who = actor(event)
            if who is not None and event.block_number in times:
                self.state.saw(who, times[event.block_number])
        if not first_load:
            for event in events:
                participants = self._participants(event)
                for type_, data in live_events(event, times.get(event.block_number), participants):
                    self.bus.publish(type_, data)
            for type_, data in changes:
                self.bus.publish(type_, data)
        log.debug(
            "live view at block %d: %d event(s) in %.0f ms",
            head,
            len(events),
            (time.monotonic() - started) * 1000,
        )

    def _open_step(self, events: list[ContractEvent]) -> int:
        closed = [int(e.args["step"]) for e in events if e.name == "StepClosed"]
        return max([self.state.current_step - 1, *closed]) + 1

    async def _events(self, first: int, last: int) -> list[ContractEvent]:
        out: list[ContractEvent] = []
        for start in range(first, last + 1, LOG_CHUNK_BLOCKS):
            end = min(last, start + LOG_CHUNK_BLOCKS - 1)
            out += await asyncio.to_thread(self.reader.events, start, end)
        return out

    async def _block_times(
        self, events: list[ContractEvent], head: int, *, first_load: bool
    ) -> dict[int, int]:
        """Block times, at few reads. On the first read: the deployment's block (step 0
        opens then) and each node's latest block. Afterwards one round's events, a poll
        apart, all take the time of the newest block."""
        if not events:
            return {}
        if not first_load:
            now = await asyncio.to_thread(self.reader.block_time, head)
            return {e.block_number: now for e in events}
        wanted = {events[0].block_number}
        latest: dict[str, int] = {}
        for event in events:
            who = actor(event)
            if who is not None:
                latest[who] = event.block_number
        wanted |= set(latest.values())
        return {n: await asyncio.to_thread(self.reader.block_time, n) for n in sorted(wanted)}

    def _participants(self, event: ContractEvent) -> tuple[str, ...]:
        entry = self.state.projection.step_entry(int(event.args.get("step", -1)))
        return entry[0].participants if entry else ()
