"""One task on this node: gather its verified inputs into its own directory, run it isolated,
and turn what it wrote into a content-addressed result index for the chain.

A task's directory holds `code/` (its module, unpacked from the verified archive), `inputs/`
(copies of the globals and dependency results it may read, never links into the node's store:
a task cannot change a file the node serves), `data/` (its datasets), `out/` (what it writes)
and `task.json` (the runtime's instructions). Its log is kept beside it, outside its reach.
"""

from __future__ import annotations

import json
import logging
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from swarm_learning.pipeline import sandbox
from swarm_learning.pipeline.inputs import PipelineInputs, ProducedResult
from swarm_learning.pipeline.package import canonical_json
from swarm_network.errors import TaskRefused
from swarm_network.files.store import FileStore
from swarm_network.pipeline.records import Decision

log = logging.getLogger(__name__)

RESULT_FORMAT = 1
MAX_OUTPUT_BYTES = 256 << 20
MAX_LOG_BYTES = 1 << 20

#: tag -> (sha256, kind, producer address)
GlobalsState = dict[str, tuple[str, str, str]]


@dataclass(frozen=True)
class TaskOutcome:
    ok: bool
    result_hash: str | None
    log_hash: str | None
    decision: Decision
    exit_status: int


@dataclass(frozen=True)
class TaskJob:
    pipeline_id: int
    iteration: int
    task: int
    manifest: dict[str, Any]
    node: str
    globals_state: GlobalsState
    dependency_results: dict[str, list[ProducedResult]]  # dep alias -> its counted results

    @property
    def alias(self) -> str:
        return str(self.manifest["tasks"][self.task]["alias"])

    @property
    def name(self) -> str:
        return f"swarm{self.pipeline_id}-it{self.iteration}-{self.alias}"


def apply_global_updates(state: GlobalsState, produced: list[ProducedResult]) -> GlobalsState:
    """The globals after one task's counted results, in node order."""
    updated = dict(state)
    for result in produced:
        for tag, entry in sorted(result.index.get("globals", {}).items()):
            updated[tag] = (entry["sha256"], entry["kind"], result.node)
    return updated


class TaskExecutor:
    def __init__(
        self,
        *,
        inputs: PipelineInputs,
        store: FileStore,
        work_root: Path,
        hide: list[Path],
        datasets: dict[str, Path],
        isolation: str,
        limits: sandbox.Limits,
    ) -> None:
        self.inputs = inputs
        self.store = store
        self.work_root = work_root
        self.hide = hide
        self.datasets = datasets
        self.isolation = isolation
        self.limits = limits

    def _copy_in(self, directory: Path, sha: str, producer: str) -> str:
        source = self.inputs.value(sha, producer)
        target = directory / sha
        if not target.exists():
            shutil.copyfile(source, target)
        return str(target)

    def _prepare(self, job: TaskJob, task_dir: Path) -> Path:
        task_spec = job.manifest["tasks"][job.task]
        if task_dir.exists():
            shutil.rmtree(task_dir)
        for sub in ("code", "inputs", "out", "data"):
            (task_dir / sub).mkdir(parents=True)
        archive = self.inputs.owner_file(job.pipeline_id, task_spec["archive"])
        with tarfile.open(archive, mode="r:") as tar:
            tar.extractall(task_dir / "code", filter="data")
        globals_doc = {
            tag: {"path": self._copy_in(task_dir / "inputs", sha, producer), "kind": kind}
            for tag, (sha, kind, producer) in job.globals_state.items()
        }
        results_doc: dict[str, dict[str, dict[str, str]]] = {}
        for produced_list in job.dependency_results.values():
            for produced in produced_list:
                for tag, entry in produced.index.get("results", {}).items():
                    path = self._copy_in(task_dir / "inputs", entry["sha256"], produced.node)
                    results_doc.setdefault(tag, {})[produced.node] = {
                        "path": path,
                        "kind": entry["kind"],
                    }
        datasets_doc, mounts = self._datasets(task_spec, task_dir)
        spec = {
            "pipeline": job.pipeline_id,
            "iteration": job.iteration,
            "alias": job.alias,
            "aliases": [t["alias"] for t in job.manifest["tasks"]],
            "node_id": job.node,
            "entry": task_spec["entry"],
            "code_dir": str(task_dir / "code"),
            "out_dir": str(task_dir / "out"),
            "globals": globals_doc,
            "results": results_doc,
            "datasets": datasets_doc,
            "sandbox": {
                "isolation": self.isolation,
                "task_dir": str(task_dir),
                "hide": [str(p) for p in self.hide],
                "datasets": mounts,
            },
        }
        spec_path = task_dir / "task.json"
        spec_path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
        return spec_path

    def _datasets(
        self, task_spec: dict[str, Any], task_dir: Path
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Every dataset of this node: at its own path, or (namespaces) mounted read-only
        under the task's data/ dir, the only place the task can see it."""
        if self.isolation != sandbox.NAMESPACES:
            return {name: str(path) for name, path in self.datasets.items()}, {}
        paths: dict[str, str] = {}
        mounts: dict[str, str] = {}
        for name, path in self.datasets.items():
            target = task_dir / "data" / name
            if path.is_dir():
                target.mkdir()
            else:
                target.touch()
            paths[name] = str(target)
            mounts[str(target)] = str(path.resolve())
        return paths, mounts

    def run(self, job: TaskJob) -> TaskOutcome:
        task_dir = self.work_root / "tasks" / job.name
        log_path = self.work_root / "logs" / f"{job.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.unlink(missing_ok=True)
        spec_path = self._prepare(job, task_dir)
        status = sandbox.launch(
            isolation=self.isolation,
            task_dir=task_dir,
            spec_path=spec_path,
            log_path=log_path,
            limits=self.limits,
        )
        log_hash = self._publish_log(log_path)
        if status != 0:
            log.error("task %s failed (exit status %d); log %s", job.name, status, log_path)
            return TaskOutcome(False, None, log_hash, Decision(), status)
        try:
            result_hash, decision = self._publish_outputs(job, task_dir / "out")
        except TaskRefused as exc:
            log.error("task %s wrote unusable output: %s", job.name, exc)
            return TaskOutcome(False, None, log_hash, Decision(), status)
        shutil.rmtree(task_dir, ignore_errors=True)
        return TaskOutcome(True, result_hash, log_hash, decision, status)

    def _publish_log(self, log_path: Path) -> str | None:
        if not log_path.exists():
            return None
        data = log_path.read_bytes()[-MAX_LOG_BYTES:]
        return self.store.put_bytes(data)

    def _publish_outputs(self, job: TaskJob, out_dir: Path) -> tuple[str, Decision]:
        index_path = out_dir / "index.json"
        if not index_path.is_file():
            raise TaskRefused("the task wrote no out/index.json")
        try:
            written = json.loads(index_path.read_text(encoding="utf-8"))
            sections = {
                name: self._store_section(out_dir, written.get(name, {}))
                for name in ("results", "globals")
            }
        except (ValueError, TypeError, AttributeError, KeyError, OSError) as exc:
            raise TaskRefused(f"out/index.json is malformed: {exc}") from exc
        decision = self._decision(job, written.get("decision") or {})
        index = {
            "format": RESULT_FORMAT,
            "pipeline": job.pipeline_id,
            "iteration": job.iteration,
            "task": job.alias,
            **sections,
            "decision": {
                "kind": decision.kind,
                "task": job.manifest["tasks"][decision.next_task]["alias"],
                "nodes": list(decision.next_nodes),
            },
        }
        return self.store.put_bytes(canonical_json(index)), decision

    def _store_section(self, out_dir: Path, section: dict[str, Any]) -> dict[str, Any]:
        stored: dict[str, Any] = {}
        for tag, entry in section.items():
            name = str(entry["file"])
            if "/" in name or name.startswith("."):
                raise TaskRefused(f"output file name {name!r} is not allowed")
            path = out_dir / name
            if path.stat().st_size > MAX_OUTPUT_BYTES:
                raise TaskRefused(f"output {tag!r} is larger than {MAX_OUTPUT_BYTES >> 20} MiB")
            kind = entry["kind"]
            if kind not in ("bytes", "json"):
                raise TaskRefused(f"output {tag!r} has unknown kind {kind!r}")
            data = path.read_bytes()
            stored[str(tag)] = {
                "sha256": self.store.put_bytes(data),
                "kind": kind,
                "size": len(data),
            }
        return stored

    @staticmethod
    def _decision(job: TaskJob, raw: dict[str, Any]) -> Decision:
        kind = raw.get("kind", "none")
        if kind == "stop":
            return Decision("stop")
        if kind != "schedule":
            return Decision()
        aliases = [t["alias"] for t in job.manifest["tasks"]]
        task = aliases.index(raw["task"]) if raw.get("task") in aliases else 0
        nodes = tuple(
            Web3.to_checksum_address(n) for n in raw.get("nodes", []) if Web3.is_address(n)
        )
        return Decision("schedule", task, nodes)
