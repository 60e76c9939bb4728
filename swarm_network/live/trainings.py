"""One live view per training of the swarm (docs/ARCHITECTURE.md, "Concurrent trainings").

The default training's view starts with the node; another training's view starts when a
request first names it (`?training=`), after its contract is found on chain, and follows it
from then on. REST reads of a training are served from its own view, so the members, steps
and metrics of one training never show in another's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from swarm_network.chain import SwarmContract, connect
from swarm_network.live.view import LiveView
from swarm_network.trainings import (
    DEFAULT_TRAINING,
    checked_training_name,
    training_address,
    training_contracts,
)

log = logging.getLogger(__name__)


class UnknownTraining(LookupError):
    pass


class TrainingViews:
    def __init__(self, *, default: LiveView, rpc_url: str, sentinel_url: str | None) -> None:
        self.default = default
        self._rpc_url = rpc_url
        self._sentinel_url = sentinel_url
        self._views: dict[str, LiveView] = {DEFAULT_TRAINING: default}
        self._lock = asyncio.Lock()

    async def get(self, name: str) -> LiveView:
        """The named training's view (InvalidRequest for a malformed name, UnknownTraining
        when the swarm has no training of that name)."""
        view = self._views.get(name)
        if view is not None:
            return view
        checked_training_name(name)
        async with self._lock:
            view = self._views.get(name)
            if view is not None:
                return view
            address = await asyncio.to_thread(training_address, self.default.contract, name)
            if address is None:
                raise UnknownTraining(name)
            # Its own read-only client, as the default view has (`routes.run_live_view`).
            contract = SwarmContract(w3=connect(self._rpc_url), address=address)
            view = LiveView(contract=contract, sentinel_url=self._sentinel_url, training=name)
            view.start()
            self._views[name] = view
            log.info("live view of training %s started (contract %s)", name, address)
            return view

    async def contracts(self) -> dict[str, str]:
        """Every training of the swarm, name -> contract, read from the chain."""
        return await asyncio.to_thread(training_contracts, self.default.contract)

    def close_streams(self) -> None:
        for view in self._views.values():
            view.bus.close()

    async def stop(self) -> None:
        """Stop the views started on request (the default one is the node's to stop)."""
        for name, view in list(self._views.items()):
            if name != DEFAULT_TRAINING:
                await view.stop()
        self._views = {DEFAULT_TRAINING: self.default}


TRAININGS = web.AppKey("trainings", TrainingViews)


def training_param(request: web.Request) -> str:
    return request.query.get("training", DEFAULT_TRAINING)


async def view_of(request: web.Request) -> LiveView:
    """The live view of the training the request names (`?training=`, default: `default`)."""
    name = training_param(request)
    try:
        return await request.app[TRAININGS].get(name)  # a malformed name: 400 (`rest.errors`)
    except UnknownTraining:
        raise web.HTTPNotFound(reason=f"this swarm has no training named {name!r}") from None


def _latest_agreed(view: LiveView) -> tuple[int, str] | None:
    projection = view.state.projection
    for step in sorted(projection.steps, reverse=True):
        agreed = projection.steps[step].agreed_hash
        if agreed is not None:
            return step, agreed
    return None


async def _training_entry(name: str, address: str, views: TrainingViews) -> dict[str, Any]:
    view = await views.get(name)
    doc = (await view.current()).training_doc()
    latest = _latest_agreed(view)
    return {
        "name": name,
        "contract_address": address,
        "state": doc["state"],
        "current_step": doc["current_step"],
        "learners": doc["learners"],
        "finished_learners": doc["finished_learners"],
        "min_peers": doc["min_peers"],
        "merge_method": doc["merge_method"],
        "latest_agreed_step": None if latest is None else latest[0],
        "latest_agreed_hash": None if latest is None else latest[1],
    }


async def list_trainings(request: web.Request) -> web.Response:
    views = request.app[TRAININGS]
    contracts = await views.contracts()  # a chain that cannot answer: 503 (`rest.errors`)
    entries = [await _training_entry(n, a, views) for n, a in contracts.items()]
    return web.json_response({"trainings": entries})
