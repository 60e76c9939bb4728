"""The churn scenarios, run concurrently once per session for the test files that need them
(a pytest plugin: see tests/conftest.py). Each runs to its end, records what the chain, the
REST API and the learners' own files said, stops every process, and returns that record:

- dropout: 4 learners (min_peers 2), one killed mid-training; later it restarts with the same
  identity (rejoin) and a brand-new learner joins mid-training;
- pause: 3 learners (min_peers 2), two killed; the last one pauses below quorum and resumes by
  itself when one of them restarts;
- slow: 3 learners, one 3x slower; the others never wait longer than the grace period, and its
  late work is merged with staleness; the training then ends at a step it is late for (made
  deterministic by stalling it with SIGSTOP until the others are done);
- vanish: every learner gone; a brand-new learner catches up from an SN node's copy of the latest
  agreed model (once with the previous step's merge agreed on chain, once killed mid-training).

They run in threads (each is mostly waiting: start-ups, grace periods, paced training), so
together they take little longer than the longest alone: 2-3 minutes on a loaded 2-core
machine.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from churn_helpers import (
    ABORT,
    FINISH_TIMEOUT_S,
    GRACE_S,
    ChainRecord,
    Churn,
    churn,
    sha256_of,
)

from swarm_learning.demo.local_swarm import free_port

# Each scenario NAME is run by `run_NAME(work_dir)` (below), which returns its record.
SCENARIOS = ("dropout", "pause", "slow", "vanish_paused", "vanish_training")


@pytest.fixture(scope="session")
def scenarios(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future]]:
    """Runs every scenario that a selected test needs, all at once in threads, the first time
    a test needs one; every test then waits for its own."""
    used = {name for item in request.session.items for name in item.fixturenames}
    wanted = [name for name in SCENARIOS if name in used]
    pool = ThreadPoolExecutor(max_workers=max(1, len(wanted)), thread_name_prefix="churn")
    try:
        runners = {name: globals()[f"run_{name}"] for name in wanted}
        yield {
            name: pool.submit(runner, tmp_path_factory.mktemp(name))
            for name, runner in runners.items()
        }
    finally:
        ABORT.set()  # scenarios still running (a test stopped the session) end now
        pool.shutdown(wait=True)


@pytest.fixture(scope="session")
def dropout(scenarios: dict[str, Future]) -> Dropout:
    return scenarios["dropout"].result()


@pytest.fixture(scope="session")
def pause(scenarios: dict[str, Future]) -> Pause:
    return scenarios["pause"].result()


@pytest.fixture(scope="session")
def slow(scenarios: dict[str, Future]) -> Slow:
    return scenarios["slow"].result()


@pytest.fixture(scope="session")
def vanish_paused(scenarios: dict[str, Future]) -> Vanish:
    return scenarios["vanish_paused"].result()


@pytest.fixture(scope="session")
def vanish_training(scenarios: dict[str, Future]) -> Vanish:
    return scenarios["vanish_training"].result()


@dataclass
class Dropout:
    run: Churn
    chain: ChainRecord
    addr: dict[str, str]
    kill_step: int  # the open step when d was killed
    restart_step: int  # the open step when d restarted and e started
    exited: dict[str, bool]
    d_statuses: list[str]  # d's /v1/nodes status, each change, in order
    d_restart_to_check_in_s: float
    d_restarted_at: float  # wall clock, to compare with its log's timestamps
    e_start_to_check_in_s: float


def run_dropout(work_dir: Path) -> Dropout:
    with churn(work_dir) as run:
        run.start()
        # d comes back at the address it had (its file server on the same port), as a node
        # restarted by a service manager would; a restart on a new address is the pause
        # scenario's.
        d_port = free_port()
        for i, name in enumerate("abcd"):
            port = d_port if name == "d" else 0
            run.learner(name, min_peers=2, batch_delay=0.1, seed=i, file_port=port)
        addr = {name: run.address(name) for name in "abcd"}
        alive = ("a", "b", "c", "d")
        run.wait_for(lambda: run.contract.current_step() >= 3, "step 3", alive=alive)
        kill_step = run.kill_before_check_in(
            ("d",), lambda: run.everyone_training("abcd"), "all training", alive=alive
        )
        survivors = ("a", "b", "c")
        d_statuses: list[str] = []

        def watch_d() -> None:
            status = run.node_statuses().get(addr["d"])
            if status and (not d_statuses or d_statuses[-1] != status):
                d_statuses.append(status)
                run.note(f"d is {status}")

        # Two whole steps without d, after the one it was killed in.
        run.wait_for(
            lambda: run.contract.current_step() >= kill_step + 3,
            "two steps without d",
            alive=survivors,
            tick=watch_d,
        )
        restart_step = run.contract.current_step()
        d_before = run.contract.node(addr["d"]).last_step
        restarted = time.monotonic()
        restarted_at = time.time()
        run.learner("d-restart", node="d", min_peers=2, batch_delay=0.1, seed=3, file_port=d_port)
        run.learner("e", min_peers=2, batch_delay=0.1, seed=4)
        alive = ("a", "b", "c", "d-restart", "e")
        run.wait_for(
            lambda: run.contract.node(addr["d"]).last_step != d_before,
            "d's check-in after its restart",
            alive=alive,
            tick=watch_d,
        )
        d_check_in = time.monotonic() - restarted
        run.note("d checked in again")
        addr["e"] = run.address("e")
        run.wait_for(
            lambda: run.contract.node(addr["e"]).last_step is not None,
            "e's first check-in",
            alive=alive,
            tick=watch_d,
        )
        e_check_in = time.monotonic() - restarted
        run.note("e checked in")
        run.stop_at(run.contract.current_step() + 3)
        # Keep watching d's status while the last steps run; a learner that hangs is
        # recorded (and asserted on), not waited for forever.
        with contextlib.suppress(RuntimeError):
            run.wait_for(
                lambda: all(not run.procs[n].alive() for n in alive),
                "the learners to finish",
                timeout_s=FINISH_TIMEOUT_S,
                tick=watch_d,
            )
        exited = run.wait_exit(list(alive), timeout_s=1)
        chain = run.snapshot()
        return Dropout(
            run=run,
            chain=chain,
            addr=addr,
            kill_step=kill_step,
            restart_step=restart_step,
            exited=exited,
            d_statuses=d_statuses,
            d_restart_to_check_in_s=d_check_in,
            d_restarted_at=restarted_at,
            e_start_to_check_in_s=e_check_in,
        )


@dataclass
class Pause:
    run: Churn
    chain: ChainRecord
    addr: dict[str, str]
    pause_step: int
    paused_docs: list[dict[str, Any]]  # /v1/training while paused
    held_s: float  # how long the pause was watched without the step moving
    restart_to_resume_s: float
    restart_to_check_in_s: float
    exited: dict[str, bool]
    b_first_url: str  # b's file URL before it was killed
    stuck_step: int | None  # a step that can never be agreed, if the swarm got stuck


def run_pause(work_dir: Path) -> Pause:
    with churn(work_dir) as run:
        run.start()
        for i, name in enumerate("abc"):
            run.learner(name, min_peers=2, batch_delay=0.15, seed=i)
        addr = {name: run.address(name) for name in "abc"}
        run.wait_for(lambda: run.contract.current_step() >= 2, "step 2", alive=("a", "b", "c"))
        b_first_url = run.contract.node(addr["b"]).file_url
        k = run.kill_before_check_in(
            ("b", "c"), lambda: run.everyone_training("abc"), "all training", alive=("a", "b", "c")
        )
        run.wait_for(
            lambda: addr["a"] in run.contract.step(k).participants, "a's check-in", alive=("a",)
        )
        run.note(f"a checked in for step {k}")
        # The pause: watched for well over the grace period, the step must not move.
        docs = []
        watch_from = time.monotonic()
        while time.monotonic() - watch_from < GRACE_S + 3:
            with contextlib.suppress(requests.RequestException):
                docs.append(run.training())
            time.sleep(0.5)
        held = time.monotonic() - watch_from
        if run.contract.current_step() != k or not run.procs["a"].alive():
            raise RuntimeError("the swarm did not stay paused:\n" + run.procs["a"].log_tail())
        restarted = time.monotonic()
        run.learner("b-restart", node="b", min_peers=2, batch_delay=0.15, seed=1)
        alive = ("a", "b-restart")
        run.wait_for(lambda: addr["b"] in run.contract.step(k).participants, "b back", alive=alive)
        check_in = time.monotonic() - restarted
        run.wait_for(lambda: run.contract.step(k).closed, f"step {k} to close", alive=alive)
        resumed = time.monotonic() - restarted
        run.note(f"step {k} closed: resumed")
        run.stop_at(k + 3)
        # 3 more steps take seconds; a swarm that is stuck is recorded, not waited on.
        stuck: list[int] = []

        def done_or_stuck() -> bool:
            j = run.stuck_step()
            if j is not None:
                stuck.append(j)
                run.note(f"step {j} can never be agreed: stuck")
            return j is not None or all(not run.procs[n].alive() for n in alive)

        with contextlib.suppress(RuntimeError):
            run.wait_for(done_or_stuck, "a and b to finish", timeout_s=FINISH_TIMEOUT_S)
        exited = run.wait_exit(list(alive), timeout_s=1)
        chain = run.snapshot()
        return Pause(
            run, chain, addr, k, docs, held, resumed, check_in, exited, b_first_url,
            stuck[0] if stuck else None,
        )  # fmt: skip


# ------------------------------------------------------------------------------------- slow

FAST_DELAY_S = 0.5  # 4 batches: 2 s of training per step
SLOW_DELAY_S = 3 * FAST_DELAY_S
SLOW_STEPS = 6  # steps with the slow learner before the training is ended


@dataclass
class Slow:
    run: Churn
    chain: ChainRecord
    addr: dict[str, str]
    last_step: int  # the step the training ended at, which the slow learner missed
    exited: dict[str, bool]


def run_slow(work_dir: Path) -> Slow:
    """a and b train at one pace, `slow` at a third of it, for SLOW_STEPS steps. Then the
    training ends at a step the slow learner is late for. That happens by itself (seen on this
    machine), but racily; here the slow learner is stalled (SIGSTOP) right before the last step
    and resumed once a and b are done, so the race is always lost the same way."""
    with churn(work_dir) as run:
        run.start()
        run.learner("a", min_peers=2, batch_delay=FAST_DELAY_S, seed=0)
        run.learner("b", min_peers=2, batch_delay=FAST_DELAY_S, seed=1)
        run.learner("slow", min_peers=2, batch_delay=SLOW_DELAY_S, seed=2)
        addr = {name: run.address(name) for name in ("a", "b", "slow")}
        alive = ("a", "b", "slow")
        run.wait_for(lambda: run.contract.current_step() >= SLOW_STEPS, "the steps", alive=alive)

        def fast_training_slow_not_in() -> int | None:
            k = run.contract.current_step()
            if addr["slow"] in run.contract.step(k).participants:
                return None
            return k if all(run.rows(n)[-1]["step"] == k - 1 for n in "ab") else None

        for _ in range(5):
            last = run.wait_for(fast_training_slow_not_in, "a step to end at", alive=alive)
            run.stall("slow")
            if addr["slow"] not in run.contract.step(last).participants:
                break
            run.resume("slow")  # it checked in just before the stop: try the next step
        else:
            raise RuntimeError("could not stall the slow learner before a step")
        run.stop_at(last)
        exited = run.wait_exit(["a", "b"])
        run.resume("slow")
        exited |= run.wait_exit(["slow"])
        chain = run.snapshot()
        return Slow(run, chain, addr, last, exited)


@dataclass
class Vanish:
    run: Churn
    chain: ChainRecord
    addr: dict[str, str]
    open_step: int  # the step open when the last learner died
    latest_agreed: str | None  # the newest agreed model then
    latest_agreed_step: int
    new_rows: list[dict[str, Any]]


def _archived(run: Churn, sha: str) -> bool:
    dirs = [run.work_dir / name / "files" for name in ("sentinel", "sn1")]
    return all((d / sha).exists() and sha256_of(d / sha) == sha for d in dirs if d.parent.exists())


def run_vanish_paused(work_dir: Path) -> Vanish:
    """3 learners, min_peers 3. c dies mid-training; a and b check in for the next step (so the
    previous step's merge is agreed, and the SN nodes copy it) and pause below quorum; then they
    die too. A brand-new learner x must catch up from an SN node's copy."""
    with churn(work_dir) as run:
        run.start(sn=True)
        for i, name in enumerate("abc"):
            run.learner(name, min_peers=3, batch_delay=0.15, seed=i)
        addr = {name: run.address(name) for name in "abc"}
        run.wait_for(lambda: run.contract.current_step() >= 2, "step 2", alive=("a", "b", "c"))
        k = run.wait_for(
            lambda: run.everyone_training("abc"), "all training", alive=("a", "b", "c")
        )
        run.kill("c")
        agreed = run.wait_for(
            lambda: (
                len(run.contract.step(k).participants) == 2 and run.contract.step(k - 1).agreed_hash
            ),
            f"a and b in step {k}, step {k - 1} agreed",
            alive=("a", "b"),
        )
        run.wait_for(lambda: _archived(run, agreed), "the SN nodes' copies", alive=("a", "b"))
        if run.contract.current_step() != k:
            raise RuntimeError("the swarm went on without c: it should have paused")
        run.kill("a", "b")
        run.learner("x", min_peers=3, batch_delay=0.15, seed=5, sn_url=run.swarm.sn_rest)
        rows = run.wait_for(lambda: run.rows("x"), "x's first sync step", alive=("x",))
        chain = run.snapshot()
        return Vanish(run, chain, addr | {"x": run.address("x")}, k, agreed, k - 1, rows)


def run_vanish_training(work_dir: Path) -> Vanish:
    """2 learners, min_peers 1, both killed while training (the last closed step's merge is
    then reported by nobody: reports ride on the next check-in). A new learner x must still
    catch up from the newest agreed model, which the sentinel holds."""
    with churn(work_dir) as run:
        run.start()
        # 2 s of training per step (4 batches): the window in which both are killed.
        for i, name in enumerate("ab"):
            run.learner(name, min_peers=1, batch_delay=0.5, seed=i)
        addr = {name: run.address(name) for name in "ab"}
        run.wait_for(lambda: run.contract.current_step() >= 3, "step 3", alive=("a", "b"))

        def training_and_archived() -> tuple[int, int, str] | None:
            """Both training step k, and the sentinel already holds the newest agreed model:
            once a and b are dead nobody else could serve it to the archive. Under load the
            archive may lag a step behind; then the next step is another chance."""
            k = run.contract.current_step()
            latest = max((j for j in range(k) if run.contract.step(j).agreed_hash), default=None)
            if latest is None:
                return None
            agreed = run.contract.step(latest).agreed_hash
            if not (agreed and _archived(run, agreed)):
                return None
            # Last, as it is what a check-in changes: see Churn.kill_before_check_in.
            return (k, latest, agreed) if run.everyone_training("ab") == k else None

        k, latest, agreed = run.kill_before_check_in(
            ("a", "b"),
            training_and_archived,
            "both training, newest agreed model archived",
            alive=("a", "b"),
        )
        if any(c.merged_hash for c in run.contract.contributions(k - 1)):
            raise RuntimeError(f"step {k - 1}'s merge was reported: not the state under test")
        run.note(f"all dead; open step {k}, newest agreed step {latest}")
        run.learner("x", min_peers=1, batch_delay=0.25, seed=5)
        # Once x has joined and found itself behind, it has 15 s (7 grace periods; it tries
        # to settle the missing merge once a second) to finish its first sync step.
        run.wait_for(lambda: "catching up" in run.sw_log("x"), "x to start catching up")
        run.note("x is catching up")
        with contextlib.suppress(RuntimeError):
            run.wait_for(lambda: run.rows("x"), "x's first sync step", alive=("x",), timeout_s=15)
        chain = run.snapshot()
        return Vanish(run, chain, addr | {"x": run.address("x")}, k, agreed, latest, run.rows("x"))
