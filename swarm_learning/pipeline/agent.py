"""`swarm node`: a node that enrols in the swarm and runs the tasks of every deployed pipeline
it is chosen for.

It holds its own key (its identity; it signs its own transactions), serves its files from its
own file server, and only watches the chain: the contract plans every iteration from chain
state, so the node just starts an iteration when none is open, runs the tasks planned for it
once they are ready, claims an `any` task in its turn (or takes it over from a silent holder),
and closes an `all` task whose stragglers timed out. Tasks run in their own isolated processes
(`sandbox.py`), one thread each here.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from swarm_learning.pipeline.enrolment import NodeSettings, choose_isolation, enrol
from swarm_learning.pipeline.execution import (
    GlobalsState,
    TaskJob,
    apply_global_updates,
)
from swarm_learning.pipeline.inputs import ProducedResult
from swarm_learning.pipeline.package import chain_tasks
from swarm_network.chain.identity import load_or_create_key
from swarm_network.errors import ChainError, ContractRevert, TaskRefused
from swarm_network.files.server import BackgroundServer
from swarm_network.files.store import FileStore
from swarm_network.pipeline.records import PipelineRecord, RunRecord, TaskSpecRecord

log = logging.getLogger(__name__)

CLAIM_STAGGER_S = 1  # an `any` task's k-th candidate claims it k * this after it is ready
START_RETRY_S = 1.0
MISSED_CHECK_S = 5.0
NUDGE_S = 2.0
IDLE_TICK_S = 1.0
CRASH_RETRY_S = 3.0


@dataclass
class _PipelineState:
    manifest: dict[str, Any] | None = None
    refused: str | None = None  # why this node does not take part in it
    next_start_try: float = 0.0
    globals_after: dict[int, GlobalsState] = field(default_factory=dict)
    specs: list[TaskSpecRecord] | None = None


class PipelineNode:
    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.account = load_or_create_key(settings.node_dir / "node.key")
        self.store = FileStore(settings.node_dir / "files")
        self.isolation = choose_isolation(settings.isolation)
        self._server: BackgroundServer | None = None
        self._pool = ThreadPoolExecutor(max_workers=settings.max_tasks, thread_name_prefix="task")
        self._running: dict[tuple[int, int, int], Future[None]] = {}
        self._finished: set[tuple[int, int, int]] = set()
        self._crashed_until: dict[tuple[int, int, int], float] = {}
        self._refusals_sent: set[tuple[int, int, int, str]] = set()
        self._states: dict[int, _PipelineState] = {}
        self._last_missed_check = 0.0
        self._last_nudge = 0.0
        self._last_block = -1
        self._last_full_tick = 0.0
        self._reaped = False
        self._chain_time = 0
        self.stopping = threading.Event()

    @property
    def address(self) -> str:
        return self.account.address

    # ------------------------------------------------------------------ start-up

    def start(self) -> None:
        enrolled = enrol(self.settings, self.account, self.store, self.isolation)
        self._server = enrolled.server
        self.registry, self.contract = enrolled.registry, enrolled.contract
        self.inputs, self.executor = enrolled.inputs, enrolled.executor

    def stop(self) -> None:
        self.stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._server is not None:
            self._server.stop()
            self._server = None

    # ------------------------------------------------------------------ the loop

    def run_forever(self) -> None:
        """Watch the chain until `stopping` is set; a chain outage is waited out."""
        while not self.stopping.is_set():
            try:
                self.tick()
            except ChainError as exc:
                log.warning("chain unavailable, retrying: %s", exc)
            self.stopping.wait(self.settings.poll_s)

    def tick(self) -> None:
        """Act on the chain's state. The state changes only with a new block, so a tick that
        sees no new block skips the reads, except once per IDLE_TICK_S for deadlines."""
        self._reap()
        number, timestamp = self.contract.latest_block()
        idle = time.monotonic() - self._last_full_tick < IDLE_TICK_S
        if number == self._last_block and idle and not self._reaped:
            return
        self._last_block, self._last_full_tick, self._reaped = number, time.monotonic(), False
        self._chain_time = timestamp
        self._check_missed()
        for pipeline_id in range(self.contract.pipeline_count()):
            record = self.contract.pipeline(pipeline_id)
            if not record.active:
                continue
            state = self._states.setdefault(pipeline_id, _PipelineState())
            if state.refused is None and state.manifest is None:
                self._load(record, state)
            if state.refused is not None:
                continue
            if not record.open:
                self._try_start(record, state)
            else:
                self._step(record, state)

    def _reap(self) -> None:
        for key, future in list(self._running.items()):
            if future.done():
                del self._running[key]
                self._reaped = True
                if future.exception() is None:
                    self._finished.add(key)
                    continue
                # A chain error mid-submit, say: the task is run again, if still ours, later.
                self._crashed_until[key] = time.monotonic() + CRASH_RETRY_S
                log.error(
                    "task %s crashed in the node (trying again in %.0f s): %r",
                    key,
                    CRASH_RETRY_S,
                    future.exception(),
                )

    def _check_missed(self) -> None:
        now = time.monotonic()
        if now - self._last_missed_check < MISSED_CHECK_S:
            return
        self._last_missed_check = now
        if self.contract.worker(self.address).missed:
            log.warning("this node was marked as having missed a task; registering again")
            self.contract.register_worker(sorted(self.settings.datasets))

    def _load(self, record: PipelineRecord, state: _PipelineState) -> None:
        """Fetch and check the manifest once: it must hash to the chain's record and describe
        the same tasks the chain holds, or this node takes no part in the pipeline."""
        try:
            manifest = self.inputs.manifest(record.pipeline_id)
        except TaskRefused as exc:
            log.warning("swarm %d: manifest not available yet: %s", record.pipeline_id, exc)
            return
        specs = self.contract.task_specs(record.pipeline_id)
        if [_spec_tuple(s) for s in specs] != [_input_tuple(t) for t in chain_tasks(manifest)]:
            state.refused = "its manifest does not describe the tasks recorded on chain"
            log.error("swarm %d refused: %s", record.pipeline_id, state.refused)
            return
        state.manifest = manifest
        log.info("swarm %d (%s) deployed by %s", record.pipeline_id, record.name, record.owner)

    def _try_start(self, record: PipelineRecord, state: _PipelineState) -> None:
        if time.monotonic() < state.next_start_try:
            return
        try:
            self.contract.start_iteration(record.pipeline_id)
            log.info("swarm %d: started iteration %d", record.pipeline_id, record.iterations)
        except ContractRevert as exc:
            log.debug("swarm %d: iteration not started: %s", record.pipeline_id, exc.reason)
            state.next_start_try = time.monotonic() + START_RETRY_S

    def _step(self, record: PipelineRecord, state: _PipelineState) -> None:
        assert state.manifest is not None
        k = record.iterations - 1
        if state.specs is None:
            state.specs = self.contract.task_specs(record.pipeline_id)  # fixed at deploy
        specs = state.specs
        # Chain time moves only with blocks: on an idle embedded chain it stands still, so
        # deadlines are judged by the later of it and the wall clock (`_nudge` then mines).
        now = max(self._chain_time, int(time.time()))
        for t, spec in enumerate(specs):
            run = self.contract.run(record.pipeline_id, k, t)
            if run.done or not run.ready:
                continue
            key = (record.pipeline_id, k, t)
            idle = key not in self._running and key not in self._finished
            idle = idle and time.monotonic() >= self._crashed_until.get(key, 0.0)
            if idle and self._my_turn(record, spec, run, now):
                self._launch(record, state, k, t)
            deadline = run.ready_at + record.task_timeout_s
            if spec.method == "all" and now >= deadline:
                # Closed with a quorum of results, else planned again without the silent
                # nodes (the contract decides which); refused while chain time lags the
                # deadline (a nudge mines a block) or while no other node could take it.
                closing = (record.pipeline_id, k, t)
                closed = self._quietly("closeTask", self.contract.close_task, *closing)
                if not closed and self._chain_time < deadline:
                    self._nudge()

    def _my_turn(
        self, record: PipelineRecord, spec: TaskSpecRecord, run: RunRecord, now: int
    ) -> bool:
        me = self.address
        if me not in run.planned or me in run.reporters:
            return False
        if spec.method == "all":
            return True
        if run.holder == me:
            return True
        position = run.planned.index(me)
        if run.holder is None:
            due = now >= run.ready_at + position * CLAIM_STAGGER_S
        else:
            due = now >= run.claimed_at + record.task_timeout_s
        if not due:
            return False
        k = record.iterations - 1
        claimed = self._quietly(
            "claimTask", self.contract.claim_task, record.pipeline_id, k, run.task
        )
        if not claimed and run.holder is not None:
            self._nudge()
        return claimed

    def _nudge(self) -> None:
        """Mine one block (a zero transfer to ourselves) so that the chain's time catches up
        with the wall clock and a passed deadline counts; at most once per NUDGE_S."""
        if time.monotonic() - self._last_nudge < NUDGE_S:
            return
        self._last_nudge = time.monotonic()
        self.registry.send_value(self.address, 0)

    def _quietly(self, what: str, call: Any, *args: Any) -> bool:
        """A transaction another node may have beaten us to: a refusal is expected."""
        try:
            call(*args)
            return True
        except ContractRevert as exc:
            log.debug("%s%s refused: %s", what, args, exc.reason)
            return False

    def _launch(self, record: PipelineRecord, state: _PipelineState, k: int, t: int) -> None:
        key = (record.pipeline_id, k, t)
        self._running[key] = self._pool.submit(self._run_task, record, state, k, t)

    # ------------------------------------------------------------------ one task

    def _globals(self, record: PipelineRecord, state: _PipelineState, k: int) -> GlobalsState:
        """The globals as iteration k sees them: the deployed ones, updated by the counted
        results of every earlier iteration, task by task (cached per iteration)."""
        assert state.manifest is not None
        if k in state.globals_after:
            return state.globals_after[k]
        if k == 0:
            current: GlobalsState = {
                tag: (g["sha256"], g["kind"], record.owner)
                for tag, g in state.manifest["globals"].items()
            }
        else:
            current = self._globals(record, state, k - 1)
            for t in range(len(state.manifest["tasks"])):
                produced = self._counted(record.pipeline_id, k - 1, t)
                current = apply_global_updates(current, produced)
        state.globals_after[k] = current
        return current

    def _counted(self, pipeline_id: int, k: int, t: int) -> list[ProducedResult]:
        run = self.contract.run(pipeline_id, k, t)
        produced, refused = self.inputs.counted_results(pipeline_id, k, run)
        for producer, reason in refused:
            marker = (pipeline_id, k, t, producer)
            if marker in self._refusals_sent:
                continue
            self._refusals_sent.add(marker)
            log.error("swarm %d: refused the result of %s: %s", pipeline_id, producer, reason)
            self._quietly("refuseResult", self.contract.refuse_result, pipeline_id, k, t, producer)
        return produced

    def _run_task(self, record: PipelineRecord, state: _PipelineState, k: int, t: int) -> None:
        assert state.manifest is not None
        manifest = state.manifest
        pipeline_id = record.pipeline_id
        aliases = [task["alias"] for task in manifest["tasks"]]
        deps = manifest["tasks"][t]["deps"]
        try:
            job = TaskJob(
                pipeline_id=pipeline_id,
                iteration=k,
                task=t,
                manifest=manifest,
                node=self.address,
                globals_state=self._globals(record, state, k),
                dependency_results={
                    dep: self._counted(pipeline_id, k, aliases.index(dep)) for dep in deps
                },
            )
            log.info("swarm %d iteration %d: running %s", pipeline_id, k, aliases[t])
            outcome = self.executor.run(job)
        except TaskRefused as exc:
            log.error("swarm %d iteration %d: cannot run %s: %s", pipeline_id, k, aliases[t], exc)
            return
        try:
            if outcome.ok:
                assert outcome.result_hash is not None
                self.contract.submit_result(
                    pipeline_id,
                    k,
                    t,
                    result_hash=outcome.result_hash,
                    log_hash=outcome.log_hash,
                    decision=outcome.decision,
                )
                log.info(
                    "swarm %d iteration %d: %s done, result %s%s",
                    pipeline_id,
                    k,
                    aliases[t],
                    outcome.result_hash[:12],
                    ""
                    if outcome.decision.kind == "none"
                    else f", decision {outcome.decision.kind}",
                )
            else:
                self.contract.fail_task(pipeline_id, k, t, outcome.log_hash)
        except ContractRevert as exc:
            # The task moved on without us (closed after its timeout, taken over, stopped).
            log.warning("swarm %d iteration %d: %s not recorded: %s", pipeline_id, k, aliases[t],
                        exc.reason)  # fmt: skip


def _spec_tuple(spec: TaskSpecRecord) -> tuple[Any, ...]:
    return (
        spec.method,
        spec.agree,
        spec.fixed,
        spec.quorum,
        spec.max_count,
        spec.max_fraction,
        tuple(spec.deps),
        tuple(spec.dataset_ids),
    )


def _input_tuple(raw: tuple[Any, ...]) -> tuple[Any, ...]:
    from swarm_network.pipeline.records import METHOD_NAMES

    method, agree, fixed, quorum, max_count, max_fraction, deps, datasets = raw
    bits = tuple(i for i in range(deps.bit_length()) if deps >> i & 1)
    return (
        METHOD_NAMES[method], agree, fixed, quorum, max_count, max_fraction, bits,
        tuple(d.hex() for d in datasets),
    )  # fmt: skip


def run_node(settings: NodeSettings, stop: threading.Event | None = None) -> None:
    node = PipelineNode(settings)
    if stop is not None:
        node.stopping = stop
    try:
        node.start()
        node.run_forever()
    finally:
        node.stop()
