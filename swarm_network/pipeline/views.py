"""Pipelines as JSON, read from the chain and from verified files: what REST answers and the
CLI prints. Blocking (chain reads, file fetches): the REST handlers call it in a thread."""

from __future__ import annotations

import logging
from typing import Any

from swarm_network.errors import TaskRefused
from swarm_network.files.store import FileStore
from swarm_network.pipeline.chain import PipelineContract
from swarm_network.pipeline.fetching import MAX_INDEX_BYTES, Sources, read_json_file
from swarm_network.pipeline.records import PipelineRecord, WorkerRecord

log = logging.getLogger(__name__)

MAX_ITERATIONS_SHOWN = 50


def worker_json(worker: WorkerRecord) -> dict[str, Any]:
    return {
        "address": worker.address,
        "datasets": list(worker.datasets),
        "missed": worker.missed,
        "registered_at": worker.registered_at,
    }


def summary_json(record: PipelineRecord) -> dict[str, Any]:
    return {
        "id": record.pipeline_id,
        "name": record.name,
        "owner": record.owner,
        "status": record.status,
        "iteration": record.open_iteration,
        "iterations": record.iterations,
        "max_iterations": record.max_iterations,
        "manifest_hash": record.manifest_hash,
        "task_timeout_s": record.task_timeout_s,
        "created_at": record.created_at,
        "ended_at": record.ended_at,
        "ended_by": record.ended_by,
    }


class PipelineViews:
    def __init__(self, *, contract: PipelineContract, sources: Sources, store: FileStore) -> None:
        self.contract = contract
        self.sources = sources
        self.store = store

    def _json_file(self, sha: str, producer: str, what: str) -> dict[str, Any]:
        path = self.sources.fetch(self.store, sha, producer, max_bytes=MAX_INDEX_BYTES)
        return read_json_file(path, what)

    def manifest(self, record: PipelineRecord) -> dict[str, Any] | None:
        try:
            return self._json_file(record.manifest_hash, record.owner, "manifest")
        except TaskRefused as exc:
            log.warning("swarm %d: manifest unavailable: %s", record.pipeline_id, exc)
            return None

    def show(self, pipeline_id: int, *, with_tags: bool = True) -> dict[str, Any]:
        record = self.contract.pipeline(pipeline_id)
        manifest = self.manifest(record)
        aliases = [t["alias"] for t in manifest["tasks"]] if manifest else None
        specs = self.contract.task_specs(pipeline_id)
        graph = [
            {
                "task": t,
                "alias": aliases[t] if aliases else None,
                "method": spec.method,
                "agree": spec.agree,
                "fixed": spec.fixed,
                "quorum": spec.quorum,
                "depends_on": [aliases[d] if aliases else d for d in spec.deps],
                "datasets": manifest["tasks"][t]["datasets"] if manifest else None,
                "image": manifest["tasks"][t]["image"] if manifest else None,
            }
            for t, spec in enumerate(specs)
        ]
        first = max(0, record.iterations - MAX_ITERATIONS_SHOWN)
        iterations = [
            self._iteration(record, k, aliases, with_tags=with_tags)
            for k in range(first, record.iterations)
        ]
        return {
            **summary_json(record),
            "graph": graph,
            "sinks": [aliases[s] if aliases else s for s in record.sinks],
            "globals": sorted(manifest["globals"]) if manifest else None,
            "iterations": iterations,
            "refused_results": self.contract.refusals(pipeline_id),
        }

    def _iteration(
        self, record: PipelineRecord, k: int, aliases: list[str] | None, *, with_tags: bool
    ) -> dict[str, Any]:
        it = self.contract.iteration(record.pipeline_id, k)
        tasks = []
        for t in range(
            len(aliases) if aliases else len(self.contract.task_specs(record.pipeline_id))
        ):
            run = self.contract.run(record.pipeline_id, k, t)
            results = {}
            for node in run.reporters:
                result = self.contract.result(record.pipeline_id, k, t, node)
                entry: dict[str, Any] = {
                    "result_hash": result.result_hash,
                    "log_hash": result.log_hash,
                    "at": result.at,
                }
                if with_tags and result.result_hash:
                    entry["tags"] = self._tags(result.result_hash, node)
                results[node] = entry
            tasks.append(
                {
                    "task": t,
                    "alias": aliases[t] if aliases else None,
                    "planned": list(run.planned),
                    "holder": run.holder,
                    "done": run.done,
                    "ready_at": run.ready_at or None,
                    "agreed_hash": run.agreed_hash,
                    "results": results,
                }
            )
        return {
            "iteration": k,
            "started_at": it.started_at,
            "started_by": it.started_by,
            "done": len(it.done_tasks) == len(tasks) or (k + 1 < record.iterations),
            "decision": it.decision,
            "decided_by": it.decided_by,
            "next_task": (aliases[it.next_task] if aliases else it.next_task)
            if it.decision == "schedule"
            else None,
            "next_nodes": list(it.next_nodes),
            "tasks": tasks,
        }

    def _tags(self, result_hash: str, node: str) -> list[str] | None:
        try:
            index = self._json_file(result_hash, node, "result index")
        except TaskRefused:
            return None
        return sorted(index.get("results", {}))

    def results(self, pipeline_id: int, tag: str, iteration: int | None) -> dict[str, Any]:
        """Result `tag` of the latest iteration that has it (or of `iteration`): each node's
        value by hash, and where to fetch it."""
        record = self.contract.pipeline(pipeline_id)
        manifest = self.manifest(record)
        if manifest is None:
            raise TaskRefused(f"the manifest of swarm {pipeline_id} is not available")
        aliases = [t["alias"] for t in manifest["tasks"]]
        candidates = [iteration] if iteration is not None else range(record.iterations - 1, -1, -1)
        for k in candidates:
            entries = []
            for t, alias in enumerate(aliases):
                run = self.contract.run(pipeline_id, k, t)
                for node in run.reporters:
                    result = self.contract.result(pipeline_id, k, t, node)
                    if result.result_hash is None:
                        continue
                    try:
                        index = self._json_file(result.result_hash, node, "result index")
                    except TaskRefused:
                        continue
                    value = index.get("results", {}).get(tag)
                    if value is not None:
                        entries.append(
                            {
                                "task": alias,
                                "node": node,
                                "sha256": value["sha256"],
                                "kind": value["kind"],
                                "size": value["size"],
                                "file_url": self.sources.url_of(node),
                            }
                        )
            if entries:
                return {"swarm": pipeline_id, "tag": tag, "iteration": k, "results": entries}
        return {"swarm": pipeline_id, "tag": tag, "iteration": None, "results": []}

    def logs(self, pipeline_id: int, since_iteration: int = 0) -> dict[str, Any]:
        """Every task log recorded on chain from `since_iteration` on, fetched and verified."""
        record = self.contract.pipeline(pipeline_id)
        manifest = self.manifest(record)
        aliases = [t["alias"] for t in manifest["tasks"]] if manifest else None
        entries = []
        for k in range(since_iteration, record.iterations):
            for t in range(len(self.contract.task_specs(pipeline_id))):
                run = self.contract.run(pipeline_id, k, t)
                for node in run.reporters:
                    result = self.contract.result(pipeline_id, k, t, node)
                    entries.append(self._log_entry(k, t, aliases, node, result.log_hash, result.at))
        for failure in self.contract.failures(pipeline_id):
            entries.append(
                self._log_entry(
                    failure["iteration"], failure["task"], aliases, failure["node"],
                    failure["log_hash"], None, failed=True,
                )
            )  # fmt: skip
        return {"swarm": pipeline_id, "status": record.status, "logs": entries}

    def _log_entry(
        self,
        k: int,
        t: int,
        aliases: list[str] | None,
        node: str,
        log_hash: str | None,
        at: int | None,
        *,
        failed: bool = False,
    ) -> dict[str, Any]:
        text = None
        if log_hash is not None:
            try:
                path = self.sources.fetch(self.store, log_hash, node, max_bytes=2 << 20)
                text = path.read_bytes().decode("utf-8", errors="replace")
            except TaskRefused as exc:
                text = f"(log unavailable: {exc})"
        return {
            "iteration": k,
            "task": aliases[t] if aliases else t,
            "node": node,
            "at": at,
            "failed": failed,
            "log_hash": log_hash,
            "text": text,
        }
