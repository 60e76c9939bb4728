"""Fetching weight files from the swarm: where each peer serves them (read from chain once,
and read again when a peer seems to have restarted on a new address), the contributions of a
closed step, and an agreed model (from its holders, or from an SN node's archive)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from swarm_learning.weights import WeightSchema, decode_weights, validate
from swarm_network.chain import SwarmContract
from swarm_network.chain.records import Contribution
from swarm_network.errors import PeerUnavailable, SwarmError
from swarm_network.files.fetch import fetch_many
from swarm_network.files.store import FileStore

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


class PeerFiles:
    def __init__(self, *, contract: SwarmContract, store: FileStore, timeout_s: float) -> None:
        self.contract = contract
        self.store = store
        self.timeout_s = timeout_s
        self._urls: dict[str, str] = {}  # a cache of the chain's file URLs, by address

    def url(self, address: str) -> str:
        """The file-server URL `address` registered on chain."""
        if address not in self._urls:
            self._urls[address] = self.contract.node(address).file_url
        return self._urls[address]

    def fetch_contributions(
        self, contributions: list[Contribution], *, own_hash: str
    ) -> tuple[dict[str, Path], list[tuple[str, str]]]:
        """The other contributions' files, each verified against its on-chain hash, by hash;
        and (address, reason) for each that could not be had. A peer whose server does not
        answer is looked up on chain again, once: it may have restarted on a new address."""
        wanted = [c for c in contributions if c.weight_hash != own_hash]
        results = self._fetch([(self.url(c.address), c.weight_hash) for c in wanted])
        moved = []
        for c in wanted:
            if isinstance(results.get(c.weight_hash), PeerUnavailable):
                cached = self._urls.pop(c.address, None)
                if self.url(c.address) != cached:
                    moved.append((self.url(c.address), c.weight_hash))
        if moved:
            results.update(self._fetch(moved))
        files: dict[str, Path] = {}
        missing: list[tuple[str, str]] = []
        for c in wanted:
            outcome = results.get(c.weight_hash)
            if isinstance(outcome, Path):
                files[c.weight_hash] = outcome
            else:
                log.warning("step file of %s refused or missing: %s", c.address, outcome)
                missing.append((c.address, str(outcome)))
        return files, missing

    def fetch_agreed(self, step: int, agreed: str, schema: WeightSchema) -> Arrays:
        """The agreed model of `step`, from a participant that reported it or from an SN
        node's archive (they answer when every holder is gone); SwarmError if nobody can."""
        holders = [c.address for c in self.contract.contributions(step) if c.merged_hash == agreed]
        jobs = [(self.url(address), agreed) for address in holders]
        jobs += [(n.file_url, agreed) for n in self.contract.nodes() if n.role == "network"]
        result = self._fetch(jobs).get(agreed)
        if not isinstance(result, Path):
            raise SwarmError(f"no peer could deliver the agreed model {agreed[:12]}: {result}")
        arrays = decode_weights(result.read_bytes())
        validate(arrays, schema)
        log.info("adopted agreed model %s of step %d", agreed[:12], step)
        return arrays

    def _fetch(self, jobs: list[tuple[str, str]]) -> dict[str, Path | SwarmError]:
        return fetch_many(jobs, self.store, timeout_s=self.timeout_s)
