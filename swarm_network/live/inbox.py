"""Where metrics documents come in, from a learner or from a relay: checked (shape,
signature, enrolled learner, a step that exists), stored once, and announced live."""

from __future__ import annotations

import asyncio

from swarm_network.chain import SwarmContract
from swarm_network.errors import AdmissionError, InvalidRequest
from swarm_network.live.bus import EventBus
from swarm_network.live.metrics_store import MetricsStore
from swarm_network.live.state import LiveState
from swarm_network.metrics_doc import MetricsDocument


class MetricsInbox:
    def __init__(
        self, *, store: MetricsStore, bus: EventBus, state: LiveState, contract: SwarmContract
    ) -> None:
        self.store = store
        self.bus = bus
        self.state = state
        self.contract = contract

    async def accept(self, raw: object) -> tuple[MetricsDocument, bool]:
        """The document and whether it was new. Raises InvalidRequest / AdmissionError."""
        doc = MetricsDocument.from_json(raw)
        doc.verify()
        await self._check_learner(doc.address)
        await self._check_step(doc.step)
        new = self.store.add(doc)
        if new:
            self.bus.publish(
                "metrics",
                {
                    "address": doc.address,
                    "step": doc.step,
                    "metrics": doc.metrics,
                    "timings": doc.timings,
                },
            )
        return doc, new

    async def _check_learner(self, address: str) -> None:
        role = self.state.node_role(address)
        if role is None:  # enrolled since the view's last read: ask the chain
            role = (await asyncio.to_thread(self.contract.node, address)).role
        if role != "learner":
            raise AdmissionError(f"{address} is not an enrolled learner")

    async def _check_step(self, step: int) -> None:
        # A learner reports a step once it is closed, so at most the open step exists
        # beyond it; the view may lag the chain by a poll, hence the second look.
        if step < self.state.current_step:
            return
        current = await asyncio.to_thread(self.contract.current_step)
        if step > current:
            raise InvalidRequest(f"step {step} is not closed yet (the open step is {current})")
