"""Metrics travel between SN nodes through the sentinel, the one SN node every other knows
(README, "Metrics"): each SN node forwards what its own learners post to the sentinel and
fetches from it what the others posted. Trust does not ride on the path: every node checks
each document's signature itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

import aiohttp

from swarm_network.errors import SwarmError
from swarm_network.live.inbox import MetricsInbox
from swarm_network.metrics_doc import MetricsDocument
from swarm_network.trainings import DEFAULT_TRAINING, training_query

log = logging.getLogger(__name__)

RELAY_INTERVAL_S = 1.0
PULL_LIMIT = 500
OUTBOX_LIMIT = 10_000
REQUEST_TIMEOUT_S = 10.0


class MetricsRelay:
    def __init__(
        self,
        *,
        sentinel_url: str,
        inbox: MetricsInbox,
        interval_s: float = RELAY_INTERVAL_S,
        training: str = DEFAULT_TRAINING,
    ) -> None:
        """`training`: whose metrics this relay carries (each training has its own)."""
        self.sentinel_url = sentinel_url
        self._training = training_query(training)
        self.inbox = inbox
        self.interval_s = interval_s
        self._outbox: deque[MetricsDocument] = deque(maxlen=OUTBOX_LIMIT)
        self._cursor = 0

    def forward(self, doc: MetricsDocument) -> None:
        """Queue a document one of this node's learners posted, for the sentinel."""
        self._outbox.append(doc)

    async def run(self, stop: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not stop.is_set():
                try:
                    await self._push(session)
                    await self._pull(session)
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    log.debug("metrics relay: sentinel unreachable (%s)", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.interval_s)

    async def _push(self, session: aiohttp.ClientSession) -> None:
        while self._outbox:
            doc = self._outbox[0]
            async with session.post(
                f"{self.sentinel_url}/v1/metrics", params=self._training, json=doc.to_json()
            ) as resp:
                if resp.status >= 500:
                    return  # try again next round
                if resp.status >= 400:
                    body = await resp.json(content_type=None)
                    log.warning(
                        "sentinel refused metrics of %s: %s", doc.address, body.get("error")
                    )
            self._outbox.popleft()

    async def _pull(self, session: aiohttp.ClientSession) -> None:
        while True:
            url = f"{self.sentinel_url}/v1/metrics"
            query = {"since": self._cursor, "limit": PULL_LIMIT, **self._training}
            async with session.get(url, params=query) as resp:
                if resp.status != 200:
                    return
                page = await resp.json()
            if page["end"] < self._cursor:
                # The sentinel restarted and holds less than before: give it back what we hold.
                log.info("sentinel's metrics were reset; sending it ours again")
                self._cursor = 0
                self._outbox.extend(self.inbox.store.all())
                return
            for raw in page["documents"]:
                try:
                    await self.inbox.accept(raw)
                except SwarmError as exc:
                    log.warning("relayed metrics document refused: %s", exc)
            self._cursor = page["next"]
            if self._cursor >= page["end"]:
                return
