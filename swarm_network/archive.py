"""SN nodes keep copies of the agreed models, so a learner that rejoins or joins late can
catch up even when every learner of that step is gone. Copies are content-addressed and
verified against the agreed hash on chain before they are kept; the newest `retention` are.

A pass copies the newest agreed models only (at most `BEHIND_STEPS` steps back from the open
one): when steps come faster than passes (small models), the steps in between are skipped,
since catching up takes the newest agreed model; each copy is a download and reads that share
the learners' chain and cores. A holder's file URL is read once and read again only when a
copy from it fails (it changes when a learner restarts on another port)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from swarm_network.backoff import Backoff
from swarm_network.chain import SwarmContract
from swarm_network.defaults import KEEP_MODELS
from swarm_network.errors import ChainError
from swarm_network.files.fetch import fetch_many
from swarm_network.files.store import FileStore
from swarm_network.trainings import training_contracts

log = logging.getLogger(__name__)

ARCHIVE_INTERVAL_S = 0.5
#: How far back from the open step a pass looks: the step before it may not be settled yet.
BEHIND_STEPS = 2
TRAININGS_INTERVAL_S = 2.0  # how soon a new training's agreed models start being archived
# A copy that failed (no holder answered) is tried again, less and less often, while its step
# is among the newest `retention`, and given up after the deadline: its holders are gone.
COPY_RETRY = Backoff(first_s=ARCHIVE_INTERVAL_S, max_s=4.0, deadline_s=300.0)
# While the chain is unreachable, the archive's passes back off (until the node stops).
CHAIN_TROUBLE = Backoff(first_s=ARCHIVE_INTERVAL_S, max_s=5.0)


@dataclass
class _MissingCopy:
    agreed: str
    retry_delays: Iterator[float]
    next_try: float


class ModelArchive:
    """Blocking (chain reads, downloads): run `archive_new` in a thread."""

    def __init__(
        self,
        *,
        contract: SwarmContract,
        store: FileStore,
        retention: int = KEEP_MODELS,
        fetch_timeout_s: float = 30.0,
    ) -> None:
        if retention < 1:
            raise ValueError("retention must be at least 1")
        self.contract = contract
        self.store = store
        self.retention = retention
        self.fetch_timeout_s = fetch_timeout_s
        self.kept: OrderedDict[int, str] = OrderedDict()  # step -> agreed hash, oldest first
        self._next_step = 0  # the oldest step not yet looked at
        # Steps whose copy failed (no holder answered): tried again while still recent.
        self._missing: dict[int, _MissingCopy] = {}
        self._file_urls: dict[str, str] = {}  # holder address -> file URL, as last read

    def archive_new(self) -> list[int]:
        """Copy the agreed models of steps settled since the last call; returns their steps."""
        current = self.contract.current_step()
        self._next_step = max(self._next_step, current - BEHIND_STEPS)
        archived = []
        while self._next_step < current:
            step = self._next_step
            agreed = self.contract.step(step).agreed_hash
            if agreed is None:
                break  # not settled yet: try again on the next pass
            if self._copy(step, agreed):
                archived.append(step)
            else:
                self._remember_missing(step, agreed)
            self._next_step = step + 1
        for step, missing in sorted(self._missing.items()):
            if step < current - self.retention:
                del self._missing[step]  # no longer among the newest: not worth a copy
            elif time.monotonic() >= missing.next_try:
                if self._copy(step, missing.agreed, retry=True):
                    del self._missing[step]
                    archived.append(step)
                else:
                    self._retry_later(step, missing)
        return archived

    def _remember_missing(self, step: int, agreed: str) -> None:
        missing = _MissingCopy(agreed=agreed, retry_delays=COPY_RETRY.delays(), next_try=0.0)
        self._missing[step] = missing
        self._retry_later(step, missing)

    def _retry_later(self, step: int, missing: _MissingCopy) -> None:
        delay = next(missing.retry_delays, None)
        if delay is None:
            log.warning("gave up archiving the agreed model of step %d: nobody delivered it", step)
            del self._missing[step]
        else:
            missing.next_try = time.monotonic() + delay

    def _copy(self, step: int, agreed: str, *, retry: bool = False) -> bool:
        holders = [c.address for c in self.contract.contributions(step) if c.merged_hash == agreed]
        urls = [self._file_url(address) for address in holders]
        result = fetch_many(
            [(url, agreed) for url in urls], self.store, timeout_s=self.fetch_timeout_s
        ).get(agreed)
        if not isinstance(result, Path):
            for address in holders:  # read again next time: a holder may have moved
                self._file_urls.pop(address, None)
            level = logging.DEBUG if retry else logging.WARNING
            log.log(level, "agreed model of step %d not archived: %s", step, result)
            return False
        self.kept[step] = agreed
        self._prune()
        log.info("archived agreed model %s of step %d", agreed[:12], step)
        return True

    def _file_url(self, address: str) -> str:
        url = self._file_urls.get(address)
        if url is None:
            url = self._file_urls[address] = self.contract.node(address).file_url
        return url

    def _prune(self) -> None:
        while len(self.kept) > self.retention:
            _, old = self.kept.popitem(last=False)
            if old not in self.kept.values():
                self.store.path(old).unlink(missing_ok=True)


async def run_archive(archive: ModelArchive, stop: asyncio.Event) -> None:
    """Archive in the background until `stop` is set; chain trouble is logged, not fatal."""
    trouble: Iterator[float] | None = None  # backoff while the chain is unreachable
    while not stop.is_set():
        pause = ARCHIVE_INTERVAL_S
        try:
            await asyncio.to_thread(archive.archive_new)
            if trouble is not None:
                log.info("model archive resumed")
            trouble = None
        except ChainError as exc:
            if trouble is None:
                log.warning("model archive paused: %s", exc)
                trouble = CHAIN_TROUBLE.delays()
            pause = next(trouble)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)


async def run_archives(
    *, registry: SwarmContract, store: FileStore, retention: int, stop: asyncio.Event
) -> None:
    """An archive for each training of the swarm (docs/ARCHITECTURE.md, "Concurrent
    trainings"), started as the trainings appear on chain, until `stop` is set."""
    tasks: dict[str, asyncio.Task[None]] = {}
    try:
        while not stop.is_set():
            try:
                trainings = await asyncio.to_thread(training_contracts, registry)
            except ChainError as exc:
                log.debug("trainings not read for the archive: %s", exc)
                trainings = {}
            for name, address in trainings.items():
                if name not in tasks:
                    contract = (
                        registry
                        if address == registry.address
                        else SwarmContract(w3=registry.w3, address=address)
                    )
                    archive = ModelArchive(contract=contract, store=store, retention=retention)
                    tasks[name] = asyncio.create_task(run_archive(archive, stop))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=TRAININGS_INTERVAL_S)
    finally:
        stop.set()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
