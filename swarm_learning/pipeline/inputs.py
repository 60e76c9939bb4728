"""Everything a task reads, fetched from the nodes' file servers and verified by hash: the
manifest (against the chain), module archives and first globals (against the manifest),
result indexes (against the chain) and the values they list (against the index).

A file that does not match, or that no node delivers, is refused: `TaskRefused` for what the
task cannot run without, or left out (and reported on chain by the caller) for one peer's
result. Nothing unverified is ever handed to a task.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarm_network.errors import TaskRefused
from swarm_network.files.store import FileStore
from swarm_network.pipeline.chain import PipelineContract
from swarm_network.pipeline.fetching import (
    MAX_FETCH_BYTES,
    MAX_INDEX_BYTES,
    Sources,
    read_json_file,
)
from swarm_network.pipeline.records import ResultRecord, RunRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProducedResult:
    """One node's verified result index for one task of one iteration."""

    node: str
    index_hash: str
    index: dict[str, Any]


class PipelineInputs:
    """Verified reads of one pipeline's files for this node."""

    def __init__(self, *, contract: PipelineContract, sources: Sources, store: FileStore) -> None:
        self.contract = contract
        self.sources = sources
        self.store = store

    def manifest(self, pipeline_id: int) -> dict[str, Any]:
        record = self.contract.pipeline(pipeline_id)
        path = self.sources.fetch(
            self.store, record.manifest_hash, record.owner, max_bytes=MAX_INDEX_BYTES
        )
        return read_json_file(path, f"manifest of swarm {pipeline_id}")

    def owner_file(self, pipeline_id: int, sha: str) -> Path:
        owner = self.contract.pipeline(pipeline_id).owner
        return self.sources.fetch(self.store, sha, owner, max_bytes=MAX_FETCH_BYTES)

    def counted_results(
        self, pipeline_id: int, iteration: int, run: RunRecord
    ) -> tuple[list[ProducedResult], list[tuple[str, str]]]:
        """The results of `run` that count (the agreed one, or every reporter's), verified;
        and (producer, reason) for each one refused."""
        records = [
            self.contract.result(pipeline_id, iteration, run.task, node)
            for node in sorted(run.reporters, key=str.lower)
        ]
        counted = [
            r
            for r in records
            if r.result_hash is not None
            and (run.agreed_hash is None or r.result_hash == run.agreed_hash)
        ]
        if run.agreed_hash is not None:
            counted = counted[:1]  # the agreed result once, from the first that produced it
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="index") as pool:
            fetched = list(pool.map(self._index, counted))
        produced: list[ProducedResult] = []
        refused: list[tuple[str, str]] = []
        for record, outcome in zip(counted, fetched, strict=True):
            if isinstance(outcome, TaskRefused):
                log.warning("swarm %d iteration %d: %s", pipeline_id, iteration, outcome)
                refused.append((record.node, str(outcome)))
            else:
                assert record.result_hash is not None
                produced.append(ProducedResult(record.node, record.result_hash, outcome))
        return produced, refused

    def _index(self, record: ResultRecord) -> dict[str, Any] | TaskRefused:
        assert record.result_hash is not None
        try:
            path = self.sources.fetch(
                self.store, record.result_hash, record.node, max_bytes=MAX_INDEX_BYTES
            )
            return read_json_file(path, f"result index of {record.node}")
        except TaskRefused as exc:
            return exc

    def value(self, sha: str, producer: str) -> Path:
        return self.sources.fetch(self.store, sha, producer, max_bytes=MAX_FETCH_BYTES)
