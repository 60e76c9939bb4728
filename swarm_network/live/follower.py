"""Keeps a `LiveState` current by following the chain: one poll of the block number per
interval, and only when blocks came, the new events (`eth_getLogs` from the last block seen)
and a re-read of the state they touched. What it costs the chain depends on how busy the
chain is, not on how many clients read the REST API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from swarm_network.backoff import Backoff
from swarm_network.chain.client import SwarmContract
from swarm_network.chain.logs import ContractEvent, EventReader
from swarm_network.errors import ChainError
from swarm_network.live.bus import EventBus
from swarm_network.live.event_docs import actor, live_events
from swarm_network.live.state import MAX_RECENT_STEPS, ChainSnapshot, LiveState, StepEntry

log = logging.getLogger(__name__)

POLL_S = 0.25
LOG_CHUNK_BLOCKS = 5_000
#: Backoff while the chain is unreachable (a restarting sentinel); the last snapshot is served.
RETRY = Backoff(first_s=0.5, max_s=5.0)


def read_steps(contract: SwarmContract, steps: Iterable[int]) -> dict[int, StepEntry]:
    return {k: (contract.step(k), contract.contributions(k)) for k in sorted(set(steps))}


def read_snapshot(contract: SwarmContract, steps: Iterable[int]) -> ChainSnapshot:
    """Blocking chain reads (call in a thread): the summary, the nodes, the given steps and
    the open one."""
    summary = contract.summary()
    wanted = set(steps) | {summary.current_step}
    return ChainSnapshot(
        summary=summary,
        nodes=contract.nodes(),
        steps=read_steps(contract, (k for k in wanted if k <= summary.current_step)),
    )


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
        self.ready = asyncio.Event()
        self._last_block = -1
        self._times: dict[int, int] = {}
        self._lock = asyncio.Lock()

    async def run(self, stop: asyncio.Event) -> None:
        """Follow until `stop` is set; while the chain is unreachable keep serving the last
        snapshot and retry with backoff."""
        delays = RETRY.delays()
        while not stop.is_set():
            try:
                await self.tick()
                delays = RETRY.delays()
                wait_s = self.poll_s
            except ChainError as exc:
                wait_s = next(delays)
                log.warning("live view: chain unavailable (%s); retrying in %.1fs", exc, wait_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait_s)

    async def tick(self) -> None:
        """Catch up with the chain's head once (also called to read one's own writes)."""
        async with self._lock:
            await self._tick()

    async def _tick(self) -> None:
        head = await asyncio.to_thread(self.reader.head)
        if head == self._last_block:
            return
        if head < self._last_block:
            log.warning(
                "chain went back from block %d to %d; reading it anew", self._last_block, head
            )
            self._last_block = -1
        first_load = self._last_block < 0
        events = await self._events(self._last_block + 1, head)
        steps = {int(e.args["step"]) for e in events if "step" in e.args}
        if first_load:
            current = await asyncio.to_thread(self.contract.current_step)
            steps |= set(range(max(0, current - MAX_RECENT_STEPS + 1), current + 1))
        snapshot = await asyncio.to_thread(read_snapshot, self.contract, steps)
        if self.state.chain_id is None:
            self.state.chain_id = await asyncio.to_thread(lambda: self.contract.chain_id)
        await self._note_last_seen(events, only_latest=first_load)
        changes = self.state.apply(snapshot)
        self._last_block = head
        if not first_load:
            for event in events:
                for type_, data in live_events(
                    event, self._times.get(event.block_number), self._participants(event)
                ):
                    self.bus.publish(type_, data)
            for type_, data in changes:
                self.bus.publish(type_, data)
        self.ready.set()

    async def _events(self, first: int, last: int) -> list[ContractEvent]:
        out: list[ContractEvent] = []
        for start in range(first, last + 1, LOG_CHUNK_BLOCKS):
            end = min(last, start + LOG_CHUNK_BLOCKS - 1)
            out += await asyncio.to_thread(self.reader.events, start, end)
        return out

    async def _note_last_seen(self, events: list[ContractEvent], *, only_latest: bool) -> None:
        """Block times for `last_seen` and the events' `time`. Catching up on a long history
        reads only each node's latest block, not every block."""
        latest: dict[str, int] = {}
        for event in events:
            who = actor(event)
            if who is not None:
                latest[who] = max(latest.get(who, 0), event.block_number)
        blocks = set(latest.values())
        if not only_latest:
            blocks |= {e.block_number for e in events}
        for number in sorted(blocks - set(self._times)):
            self._times[number] = await asyncio.to_thread(self.reader.block_time, number)
        for who, number in latest.items():
            self.state.saw(who, self._times[number])
        if len(self._times) > 4 * LOG_CHUNK_BLOCKS:
            keep = sorted(self._times)[-LOG_CHUNK_BLOCKS:]
            self._times = {n: self._times[n] for n in keep}

    def _participants(self, event: ContractEvent) -> tuple[str, ...]:
        entry = self.state.steps.get(int(event.args.get("step", -1)))
        return entry[0].participants if entry else ()
