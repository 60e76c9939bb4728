"""Keeps a `LiveState` current by following the chain: one poll of the block number per
interval, and only when blocks came, the new events (`eth_getLogs` from the last block seen)
and a re-read of the state they touched. What it costs the chain depends on how busy the
chain is, not on how many clients read the REST API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from swarm_network.backoff import Backoff
from swarm_network.chain.client import SwarmContract
from swarm_network.chain.logs import ContractEvent, EventReader
from swarm_network.chain.records import NodeRecord, SwarmSummary, TrainingConfig
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


@dataclass(frozen=True)
class ReadPlan:
    """What one round must read: only what the new events touched, after the first."""

    head: int
    known_step: int  # the open step as last seen
    steps: frozenset[int]
    nodes: tuple[str, ...] | None  # None: every node (the first read)
    read_config: bool


def read_update(
    contract: SwarmContract,
    plan: ReadPlan,
    nodes: dict[str, NodeRecord],
    config: TrainingConfig | None,
) -> ChainSnapshot:
    """Blocking chain reads (call in a thread). Counts that the contract keeps (learners,
    finished ones) are counted from the node records, and the open step's quorum and live
    learners come from one `stepStatus` call, so a round costs a few calls, not dozens."""
    if plan.nodes is None:
        nodes = {n.address: n for n in contract.nodes()}
    else:
        nodes = {**nodes, **{a: contract.node(a) for a in plan.nodes}}
    if plan.read_config or config is None:
        config = contract.training_config()
    status = contract.step_status(plan.known_step)
    if status.open_step != plan.known_step:
        status = contract.step_status(status.open_step)
    current = status.open_step
    steps = read_steps(contract, {k for k in plan.steps if k <= current} | {current})
    learners = [n for n in nodes.values() if n.role == "learner"]
    summary = SwarmSummary(
        block_number=plan.head,
        current_step=current,
        learner_count=len(learners),
        finished_count=sum(n.finished for n in learners),
        effective_quorum=status.quorum,
        live_learners=status.live,
        open_step=steps[current][0],
        config=config,
    )
    return ChainSnapshot(summary=summary, nodes=list(nodes.values()), steps=steps)


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
        started = time.monotonic()
        first_load = self._last_block < 0
        events = await self._events(self._last_block + 1, head)
        steps = {int(e.args["step"]) for e in events if "step" in e.args}
        known_step = self.state.current_step
        if first_load:
            known_step = await asyncio.to_thread(self.contract.current_step)
            steps |= set(range(max(0, known_step - MAX_RECENT_STEPS + 1), known_step + 1))
        plan = ReadPlan(
            head=head,
            known_step=known_step,
            steps=frozenset(steps),
            nodes=None if first_load else tuple(dict.fromkeys(filter(None, map(actor, events)))),
            read_config=first_load or any(e.name == "TrainingConfigured" for e in events),
        )
        known_nodes = {n.address: n for n in self.state.nodes}
        config = self.state.summary.config if self.state.summary else None
        snapshot = await asyncio.to_thread(read_update, self.contract, plan, known_nodes, config)
        if self.state.chain_id is None:
            self.state.chain_id = await asyncio.to_thread(lambda: self.contract.chain_id)
        times = await self._note_last_seen(events, head, first_load=first_load)
        changes = self.state.apply(snapshot)
        self._last_block = head
        if not first_load:
            for event in events:
                for type_, data in live_events(
                    event, times.get(event.block_number), self._participants(event)
                ):
                    self.bus.publish(type_, data)
            for type_, data in changes:
                self.bus.publish(type_, data)
        self.ready.set()
        log.debug(
            "live view at block %d: %d event(s) in %.0f ms",
            head,
            len(events),
            (time.monotonic() - started) * 1000,
        )

    async def _events(self, first: int, last: int) -> list[ContractEvent]:
        out: list[ContractEvent] = []
        for start in range(first, last + 1, LOG_CHUNK_BLOCKS):
            end = min(last, start + LOG_CHUNK_BLOCKS - 1)
            out += await asyncio.to_thread(self.reader.events, start, end)
        return out

    async def _note_last_seen(
        self, events: list[ContractEvent], head: int, *, first_load: bool
    ) -> dict[int, int]:
        """Block times for `last_seen` and the events' `time`, at few reads: catching up on
        history reads each node's latest block; afterwards one round's events (a poll apart)
        all take the time of the newest block."""
        latest: dict[str, int] = {}
        for event in events:
            who = actor(event)
            if who is not None:
                latest[who] = max(latest.get(who, 0), event.block_number)
        if first_load:
            times = {
                n: await asyncio.to_thread(self.reader.block_time, n) for n in set(latest.values())
            }
        else:
            now = await asyncio.to_thread(self.reader.block_time, head) if events else 0
            times = {e.block_number: now for e in events}
        for who, number in latest.items():
            self.state.saw(who, times[number])
        return times

    def _participants(self, event: ContractEvent) -> tuple[str, ...]:
        entry = self.state.steps.get(int(event.args.get("step", -1)))
        return entry[0].participants if entry else ()
