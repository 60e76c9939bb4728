"""Typed views of the SwarmPipeline contract's state, decoded from raw call results in one
place, so that the REST API, the node agent and the CLI read pipelines the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swarm_network.chain.records import hash_to_hex

ZERO_ADDRESS = "0x" + "0" * 40

STATUS_NAMES = {0: "pending", 1: "running", 2: "completed", 3: "stopped", 4: "failed"}
ACTIVE_STATUSES = ("pending", "running")
METHOD_NAMES = {0: "all", 1: "any"}
METHOD_IDS = {name: method_id for method_id, name in METHOD_NAMES.items()}
DECISION_NAMES = {0: "none", 1: "stop", 2: "schedule"}
DECISION_IDS = {name: decision_id for decision_id, name in DECISION_NAMES.items()}
FRACTION_ONE = 10_000  # the contract's basis points for a maximum given as a fraction


def _hash_or_none(value: bytes) -> str | None:
    text = hash_to_hex(value)
    return None if text == "0" * 64 else text


def _address_or_none(value: str) -> str | None:
    return None if int(value, 16) == 0 else value


@dataclass(frozen=True)
class WorkerRecord:
    address: str
    registered: bool
    missed: bool
    registered_at: int
    datasets: tuple[str, ...]


@dataclass(frozen=True)
class TaskSpecRecord:
    """What the chain holds of one task: enough to plan it and to tell when it is done."""

    method: str
    agree: bool
    fixed: bool
    quorum: int
    max_count: int
    max_fraction: int  # basis points
    deps: tuple[int, ...]
    dataset_ids: tuple[str, ...]  # keccak of each dataset name, hex


@dataclass(frozen=True)
class PipelineRecord:
    pipeline_id: int
    owner: str
    manifest_hash: str
    name: str
    status: str
    open: bool
    iterations: int
    max_iterations: int
    task_timeout_s: int
    created_at: int
    ended_at: int | None
    ended_by: str | None
    sinks: tuple[int, ...]

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def open_iteration(self) -> int | None:
        return self.iterations - 1 if self.open else None


@dataclass(frozen=True)
class IterationRecord:
    iteration: int
    started_at: int
    started_by: str | None
    done_tasks: tuple[int, ...]
    decision: str
    decided_by: str | None
    next_task: int
    next_nodes: tuple[str, ...]


@dataclass(frozen=True)
class RunRecord:
    """One task in one iteration: who is planned, who reported, who holds an `any` task."""

    task: int
    planned: tuple[str, ...]
    reporters: tuple[str, ...]
    holder: str | None
    claimed_at: int
    done_at: int
    done: bool
    agreed_hash: str | None
    ready_at: int  # 0 while not ready

    @property
    def ready(self) -> bool:
        return self.ready_at > 0


@dataclass(frozen=True)
class ResultRecord:
    node: str
    result_hash: str | None
    log_hash: str | None
    at: int


@dataclass(frozen=True)
class Decision:
    """What a task decided for the next iteration (`stop_swarm`, `schedule_next_iter`)."""

    kind: str = "none"
    next_task: int = 0
    next_nodes: tuple[str, ...] = ()

    def as_call(self) -> tuple[int, int, list[str]]:
        return (DECISION_IDS[self.kind], self.next_task, list(self.next_nodes))


def _bits(mask: int) -> tuple[int, ...]:
    return tuple(i for i in range(mask.bit_length()) if mask >> i & 1)


def worker_from_call(address: str, raw: Any) -> WorkerRecord:
    registered, missed, registered_at, datasets = raw
    return WorkerRecord(
        address, bool(registered), bool(missed), int(registered_at), tuple(datasets)
    )


def task_specs_from_call(raw: Any) -> list[TaskSpecRecord]:
    return [
        TaskSpecRecord(
            method=METHOD_NAMES[int(method)],
            agree=bool(agree),
            fixed=bool(fixed),
            quorum=int(quorum),
            max_count=int(max_count),
            max_fraction=int(max_fraction),
            deps=_bits(int(deps)),
            dataset_ids=tuple(bytes(d).hex() for d in datasets),
        )
        for method, agree, fixed, quorum, max_count, max_fraction, deps, datasets in raw
    ]


def pipeline_from_call(pipeline_id: int, raw: Any) -> PipelineRecord:
    (owner, manifest, name, status, is_open, iterations, max_iterations, timeout, created, ended,
     ended_by, sinks) = raw  # fmt: skip
    return PipelineRecord(
        pipeline_id=pipeline_id,
        owner=owner,
        manifest_hash=hash_to_hex(manifest),
        name=name,
        status=STATUS_NAMES[int(status)],
        open=bool(is_open),
        iterations=int(iterations),
        max_iterations=int(max_iterations),
        task_timeout_s=int(timeout),
        created_at=int(created),
        ended_at=int(ended) or None,
        ended_by=_address_or_none(ended_by) if int(status) >= 2 else None,
        sinks=_bits(int(sinks)),
    )


def iteration_from_call(iteration: int, raw: Any) -> IterationRecord:
    started_at, started_by, done_mask, decision, decided_by, next_task, next_nodes = raw
    return IterationRecord(
        iteration=iteration,
        started_at=int(started_at),
        started_by=_address_or_none(started_by),
        done_tasks=_bits(int(done_mask)),
        decision=DECISION_NAMES[int(decision)],
        decided_by=_address_or_none(decided_by),
        next_task=int(next_task),
        next_nodes=tuple(next_nodes),
    )


def run_from_call(task: int, raw: Any) -> RunRecord:
    planned, reporters, holder, claimed_at, done_at, done, agreed, ready_at = raw
    return RunRecord(
        task=task,
        planned=tuple(planned),
        reporters=tuple(reporters),
        holder=_address_or_none(holder),
        claimed_at=int(claimed_at),
        done_at=int(done_at),
        done=bool(done),
        agreed_hash=_hash_or_none(agreed),
        ready_at=int(ready_at),
    )


def result_from_call(node: str, raw: Any) -> ResultRecord:
    result_hash, log_hash, at = raw
    return ResultRecord(node, _hash_or_none(result_hash), _hash_or_none(log_hash), int(at))
