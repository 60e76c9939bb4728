"""Fetching pipeline files (manifests, archives, result indexes, values, logs) from the file
server of the node that produced them, verified against their sha256 on the way in."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarm_network.chain import SwarmContract
from swarm_network.errors import SwarmError, TaskRefused
from swarm_network.files.fetch import fetch_verified
from swarm_network.files.store import FileStore

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 10.0
MAX_FETCH_BYTES = 256 << 20
MAX_INDEX_BYTES = 1 << 20


@dataclass
class Sources:
    """Where files may be had: the file server of the node that produced them (the swarm's
    owner for what was deployed: it uploaded them to its SN node, whose file URL it joined
    with). A transfer may take six times `timeout_s` in all (an archive is larger than a
    message), and is cut earlier when it trickles below the fetcher's minimum rate."""

    registry: SwarmContract
    timeout_s: float = FETCH_TIMEOUT_S
    _urls: dict[str, str] = field(default_factory=dict)

    def url_of(self, address: str) -> str | None:
        if address not in self._urls:
            record = self.registry.node(address)
            if record.role == "none":
                return None
            self._urls[address] = record.file_url
        return self._urls[address]

    def forget(self, address: str) -> None:
        self._urls.pop(address, None)

    def fetch(self, store: FileStore, sha: str, producer: str, *, max_bytes: int) -> Path:
        """The file `sha`, verified, from the producer (or from its store if already there)."""
        if store.has(sha):
            return store.path(sha)
        url = self.url_of(producer)
        if url is None:
            raise TaskRefused(f"{producer} is not enrolled: nobody to fetch {sha} from")
        try:
            return fetch_verified(
                url, sha, store, timeout_s=self.timeout_s * 6, max_bytes=max_bytes
            )
        except SwarmError as exc:
            self.forget(producer)  # it may have moved (a restarted node)
            raise TaskRefused(f"refused {sha} from {producer}: {exc}") from exc


def read_json_file(path: Path, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_bytes())
    except ValueError as exc:
        raise TaskRefused(f"{what} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise TaskRefused(f"{what} is not a JSON object")
    return doc
