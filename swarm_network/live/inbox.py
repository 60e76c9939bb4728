"""Where metrics documents come in, from a learner or from a relay: checked (shape,
signature, enrolled learner, a step that exists), stored once, and announced live."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from swarm_network.errors import AdmissionError, InvalidRequest
from swarm_network.live.bus import EventBus
from swarm_network.live.metrics_store import MetricsStore
from swarm_network.live.state import LiveState
from swarm_network.metrics_doc import MetricsDocument


class MetricsInbox:
    def __init__(
        self,
        *,
        store: MetricsStore,
        bus: EventBus,
        state: LiveState,
        catch_up: Callable[[], Awaitable[LiveState]],
    ) -> None:
        self.store = store
        self.bus = bus
        self.state = state
        self.catch_up = catch_up  # the view at the chain's head, for what it has not seen yet

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
        if role is None:  # perhaps enrolled in a block the view has not read yet
            role = (await self.catch_up()).node_role(address)
        if role != "learner":
            raise AdmissionError(f"{address} is not an enrolled learner")

    async def _check_step(self, step: int) -> None:
        # A learner reports a step once it is closed, so at most the open step exists
        # beyond it; a step the view has not seen close yet gets a second look.
        if step < self.state.current_step:
            return
        current = (await self.catch_up()).current_step
        if step > current:
            raise InvalidRequest(f"step {step} is not closed yet (the open step is {current})")
