"""Fetching weight files from the swarm: where each peer serves them (read from chain once,
and read again when a peer seems to have restarted on a new address), the contributions of a
step (started as soon as each check-in is seen, so transfers overlap the wait for the close),
and an agreed model (from its holders, or from an SN node's archive). No file is read past
the size the model's schema allows (`weight_file.max_file_bytes`)."""

from __future__ import annotations

import concurrent.futures
import logging
from pathlib import Path

import numpy as np

from swarm_learning.weight_file import max_file_bytes
from swarm_learning.weights import WeightSchema, decode_weights, validate
from swarm_network.chain import SwarmContract
from swarm_network.chain.records import Contribution
from swarm_network.errors import PeerUnavailable, SwarmError
from swarm_network.files.fetch import Fetcher, outcome

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


class PeerFiles:
    def __init__(self, *, contract: SwarmContract, fetcher: Fetcher, schema: WeightSchema) -> None:
        self.contract = contract
        self.fetcher = fetcher
        self.max_bytes = max_file_bytes(schema)
        self._urls: dict[str, str] = {}  # a cache of the chain's file URLs, by address
        # Transfers started ahead of `fetch_contributions` (by `prefetch`), by weight hash.
        self._started: dict[str, concurrent.futures.Future[Path]] = {}

    def url(self, address: str) -> str:
        """The file-server URL `address` registered on chain."""
        if address not in self._urls:
            self._urls[address] = self.contract.node(address).file_url
        return self._urls[address]

    def prefetch(self, address: str, weight_hash: str) -> None:
        """Start fetching a contribution as soon as its check-in is seen, before the step
        closes; `fetch_contributions` picks up the transfer (or its failure) from there."""
        if weight_hash not in self._started:
            self._started[weight_hash] = self._submit([self.url(address)], weight_hash)

    def fetch_contributions(
        self, contributions: list[Contribution], *, own_hash: str
    ) -> tuple[dict[str, Path], list[tuple[str, str]]]:
        """The other contributions' files, each verified against its on-chain hash, by hash;
        and (address, reason) for each that could not be had. A peer whose server does not
        answer is looked up on chain again, once: it may have restarted on a new address."""
        wanted = [c for c in contributions if c.weight_hash != own_hash]
        started, self._started = self._started, {}
        futures = {
            c.weight_hash: started.get(c.weight_hash)
            or self._submit([self.url(c.address)], c.weight_hash)
            for c in wanted
        }
        results = {sha: outcome(future) for sha, future in futures.items()}
        moved = []
        for c in wanted:
            if isinstance(results.get(c.weight_hash), PeerUnavailable):
                cached = self._urls.pop(c.address, None)
                if self.url(c.address) != cached:
                    moved.append((self.url(c.address), c.weight_hash))
        if moved:
            results.update(self.fetcher.fetch_many(moved, max_bytes=self.max_bytes))
        files: dict[str, Path] = {}
        missing: list[tuple[str, str]] = []
        for c in wanted:
            result = results.get(c.weight_hash)
            if isinstance(result, Path):
                files[c.weight_hash] = result
            else:
                log.warning("step file of %s refused or missing: %s", c.address, result)
                missing.append((c.address, str(result)))
        return files, missing

    def fetch_agreed(self, step: int, agreed: str, schema: WeightSchema) -> Arrays:
        """The agreed model of `step`, from a participant that reported it or from an SN
        node's archive (they answer when every holder is gone); SwarmError if nobody can."""
        holders = [c.address for c in self.contract.contributions(step) if c.merged_hash == agreed]
        sources = [self.url(address) for address in holders]
        sources += [n.file_url for n in self.contract.nodes() if n.role == "network"]
        result = outcome(self._submit(sources, agreed))
        if not isinstance(result, Path):
            raise SwarmError(f"no peer could deliver the agreed model {agreed[:12]}: {result}")
        arrays = decode_weights(result.read_bytes())
        validate(arrays, schema)
        log.info("adopted agreed model %s of step %d", agreed[:12], step)
        return arrays

    def _submit(self, sources: list[str], sha: str) -> concurrent.futures.Future[Path]:
        return self.fetcher.submit(sources, sha, max_bytes=self.max_bytes)
