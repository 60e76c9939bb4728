"""End to end: learners that die, pause, come back, join late or lag behind.

Every scenario runs real processes on loopback (a sentinel, sometimes one more SN node, and
learners running `tests/churn_program.py` through `swarm sl --program`); "kill" is SIGKILL of a
learner's whole process group. A scenario runs to its end in its fixture, records what the chain,
the REST API and the learners' own files said, stops every process, and the tests then assert on
that record:

- dropout: 4 learners (min_peers 2), one killed mid-training; later it restarts with the same
  identity (rejoin) and a brand-new learner joins mid-training;
- pause: 3 learners (min_peers 2), two killed; the last one pauses below quorum and resumes by
  itself when one of them restarts;
- slow: 3 learners, one 3x slower; the others never wait longer than the grace period, and its
  late work is merged with staleness; the training then ends at a step it is late for (made
  deterministic by stalling it with SIGSTOP until the others are done);
- vanish: every learner gone; a brand-new learner catches up from an SN node's copy of the latest
  agreed model (once with the previous step's merge agreed on chain, once killed mid-training).
  Nobody finishes these two trainings (the new learner alone is below the quorum, or stuck), so
  the agreement check (every learner that finishes holds the same final model, bit for bit)
  runs in the other scenarios' tests.

The scenarios run concurrently (each is mostly waiting); the whole file takes 2-3 minutes on a
loaded 2-core machine.

Timeouts are short (grace 2 s) and passed through the SWARM_* environment of the processes. The
figures each scenario measured are printed (`pytest -s`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from eth_account import Account

from swarm_learning.demo.local_swarm import LocalSwarm, NodeProcess, free_port
from swarm_network.chain import SwarmContract, connect
from swarm_network.chain.records import Contribution, NodeRecord, StepRecord

T = TypeVar("T")

PROGRAM = Path(__file__).with_name("churn_program.py")
GRACE_S = 2
# What a wait may take beyond the grace period: the contract compares whole-second block
# timestamps, a learner retries closing once a second, and the machine is shared.
MARGIN_S = 3.0
SYNC_FREQUENCY = 4
ENV = {
    "SWARM_GRACE_SECONDS": str(GRACE_S),
    "SWARM_MAX_STALENESS": "2",
    "SWARM_PEER_TIMEOUT": "5",
    "SWARM_FINAL_TIMEOUT": "90",
    "SWARM_CHAIN_RETRY": "30",
    "SWARM_TORCH_THREADS": "1",
}
STEP_TIMEOUT_S = 90  # the longest any single thing a scenario waits for may take
FINISH_TIMEOUT_S = 120

ABORT = threading.Event()  # set when the module is done: scenarios still running stop


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class ChainRecord:
    """Everything the chain said about a training, read before the sentinel stopped."""

    current_step: int
    steps: dict[int, StepRecord]
    contributions: dict[int, list[Contribution]]
    nodes: dict[str, NodeRecord]

    def participants(self, k: int) -> set[str]:
        return set(self.steps[k].participants)

    def contribution(self, k: int, address: str) -> Contribution | None:
        return next((c for c in self.contributions[k] if c.address == address), None)

    def first_step_of(self, address: str, after: int = -1) -> int | None:
        return next(
            (k for k in sorted(self.steps) if k > after and address in self.steps[k].participants),
            None,
        )


@dataclass
class Churn:
    """One swarm under test: processes, identities, what the learners wrote, and a timeline."""

    work_dir: Path
    swarm: LocalSwarm = field(init=False)
    contract: SwarmContract = field(init=False)
    rest: str = field(init=False)
    started: float = field(default_factory=time.monotonic)
    timeline: list[tuple[float, str]] = field(default_factory=list)
    procs: dict[str, NodeProcess] = field(default_factory=dict)
    node_dirs: dict[str, Path] = field(default_factory=dict)
    stop_file: Path = field(init=False)
    stalled: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.swarm = LocalSwarm(work_dir=self.work_dir)
        self.stop_file = self.work_dir / "stop-at-step"

    def now(self) -> float:
        return time.monotonic() - self.started

    def note(self, text: str) -> None:
        self.timeline.append((round(self.now(), 2), text))

    def start(self, *, sn: bool = False) -> None:
        self.rest = self.swarm.start_sentinel()
        if sn:
            self.swarm.start_sn()
        chain = requests.get(f"{self.rest}/v1/chain", timeout=30).json()
        assert self.swarm.sentinel_rpc is not None
        self.contract = SwarmContract(
            w3=connect(self.swarm.sentinel_rpc), address=chain["contract_address"]
        )
        self.note("network up")

    def learner(
        self,
        proc_name: str,
        *,
        node: str | None = None,
        min_peers: int,
        batch_delay: float,
        seed: int,
        sn_url: str | None = None,
        file_port: int = 0,
    ) -> NodeProcess:
        """Start `churn_program` as a learner; `node` names its dirs (identity), so a
        restart passes the killed learner's node name with a new process name."""
        node = node or proc_name
        node_dir = self.work_dir / node
        self.node_dirs[node] = node_dir
        args = ["--steps", "60", "--stop-file", str(self.stop_file)]
        args += ["--sync-frequency", str(SYNC_FREQUENCY), "--min-peers", str(min_peers)]
        args += ["--batch-delay", str(batch_delay), "--data-seed", str(seed)]
        process = self.swarm._spawn(
            proc_name,
            [
                "sl",
                "--sn", sn_url or self.rest,
                "--program", str(PROGRAM),
                "--node-dir", str(node_dir),
                "--file-host", "127.0.0.1",
                "--file-port", str(file_port),
                "--", *args,
            ],
        )  # fmt: skip
        self.procs[proc_name] = process
        self.note(f"started {proc_name} (node {node})")
        return process

    def kill(self, *names: str) -> None:
        for name in names:
            self.procs[name].kill()
            self.note(f"killed {name}")

    def address(self, node: str) -> str:
        key = self.node_dirs[node] / "node.key"
        self.wait_for(lambda: key.exists() or None, f"{node}'s key", timeout_s=STEP_TIMEOUT_S)
        return Account.from_key(key.read_text().strip()).address

    def model_dir(self, node: str) -> Path:
        return self.node_dirs[node] / "model"

    def rows(self, node: str) -> list[dict[str, Any]]:
        path = self.model_dir(node) / "sync_steps.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def result(self, node: str) -> dict[str, Any] | None:
        path = self.model_dir(node) / "result.json"
        return json.loads(path.read_text()) if path.exists() else None

    def sw_log(self, node: str) -> str:
        path = self.model_dir(node) / "churn_program_sw.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_at(self, step: int) -> None:
        self.stop_file.write_text(str(step))
        self.note(f"stop file: train until step {step}")

    def wait_for(
        self,
        probe: Callable[[], T | None],
        what: str,
        *,
        timeout_s: float = STEP_TIMEOUT_S,
        alive: tuple[str, ...] = (),
        tick: Callable[[], None] | None = None,
    ) -> T:
        """Poll `probe` until it returns something; fail naming `what` (and the logs of the
        learners that must stay `alive`) on timeout or if one of them exits."""
        deadline = time.monotonic() + timeout_s
        while True:
            if ABORT.is_set():
                raise RuntimeError(f"aborted while waiting for {what}")
            with contextlib.suppress(requests.RequestException):
                value = probe()
                if value:
                    return value
            if tick is not None:
                with contextlib.suppress(requests.RequestException):
                    tick()
            for name in alive:
                if not self.procs[name].alive():
                    raise RuntimeError(
                        f"{name} exited while waiting for {what}:\n{self.procs[name].log_tail()}"
                    )
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {n}:\n{self.procs[n].log_tail(15)}" for n in alive)
                raise RuntimeError(f"timed out after {timeout_s}s waiting for {what}\n{tails}")
            time.sleep(0.1)

    def wait_exit(self, names: list[str], timeout_s: float = FINISH_TIMEOUT_S) -> dict[str, bool]:
        """Which of `names` exited (with code 0) in time; the others hung or failed."""
        with contextlib.suppress(RuntimeError):
            self.wait_for(
                lambda: all(not self.procs[n].alive() for n in names),
                f"{', '.join(names)} to exit",
                timeout_s=timeout_s,
            )
        done = {n: self.procs[n].popen.poll() == 0 for n in names}
        self.note(f"exited ok: {done}")
        return done

    def everyone_training(self, nodes: str | tuple[str, ...]) -> int | None:
        """The open step k, once each of `nodes` has merged step k-1 (its row is written) and
        none has checked in for k yet: they are all training, no transfer under way."""
        k = self.contract.current_step()
        if k == 0 or self.contract.step(k).participants:
            return None
        done = all((rows := self.rows(n)) and rows[-1]["step"] == k - 1 for n in nodes)
        return k if done else None

    def stuck_step(self) -> int | None:
        """A recent closed step that every participant reported a merge for, without a strict
        majority: it can never be agreed (settling needs a strict majority of the reports), and
        no later step can close."""
        current = self.contract.current_step()
        for k in range(max(0, current - 3), current):
            if not self.contract.step(k).closed:
                continue
            contributions = self.contract.contributions(k)
            # Read after the reports: a majority among them would be on record by now.
            if all(c.merged_hash for c in contributions) and not self.contract.step(k).agreed_hash:
                return k
        return None

    def snapshot(self) -> ChainRecord:
        """Read the chain's whole record, and keep a copy beside the logs (chain.json)."""
        current = self.contract.current_step()
        steps = {k: self.contract.step(k) for k in range(current + 1)}
        contributions = {k: self.contract.contributions(k) for k in range(current + 1)}
        nodes = {n.address: n for n in self.contract.nodes()}
        record = ChainRecord(current, steps, contributions, nodes)
        (self.work_dir / "chain.json").write_text(
            json.dumps(
                {
                    "timeline": self.timeline,
                    "nodes": {n: str(self.node_dirs.get(n)) for n in self.node_dirs},
                    **dataclasses.asdict(record),
                },
                indent=1,
                default=str,
            )
        )
        return record

    def training(self) -> dict[str, Any]:
        return requests.get(f"{self.rest}/v1/training", timeout=10).json()

    def node_statuses(self) -> dict[str, str]:
        nodes = requests.get(f"{self.rest}/v1/nodes", timeout=10).json()["nodes"]
        return {n["address"]: n["status"] for n in nodes}

    def stall(self, name: str) -> None:
        """SIGSTOP a learner's process group: it is still a member, but does nothing."""
        os.killpg(self.procs[name].popen.pid, signal.SIGSTOP)
        self.stalled.add(name)
        self.note(f"stalled {name}")

    def resume(self, name: str) -> None:
        if name in self.stalled and self.procs[name].alive():
            os.killpg(self.procs[name].popen.pid, signal.SIGCONT)
            self.note(f"resumed {name}")
        self.stalled.discard(name)

    def stop(self) -> None:
        for name in list(self.stalled):
            with contextlib.suppress(ProcessLookupError):
                self.resume(name)
        self.swarm.stop()


@contextlib.contextmanager
def churn(work_dir: Path) -> Iterator[Churn]:
    """A swarm whose processes are all gone afterwards, whatever happens."""
    run = Churn(work_dir=work_dir)
    try:
        yield run
    finally:
        run.stop()


# Each scenario NAME is run by `run_NAME(work_dir)` (below), which returns its record.
SCENARIOS = ("dropout", "pause", "slow", "vanish_paused", "vanish_training")


@pytest.fixture(scope="module")
def scenarios(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future]]:
    """Runs every scenario that a selected test needs, all at once in threads: each is mostly
    waiting (start-ups, grace periods, paced training), so together they take little longer
    than the longest alone. Every process gets the short test timeouts (ENV)."""
    used = {name for item in request.session.items for name in item.fixturenames}
    wanted = [name for name in SCENARIOS if name in used]
    with pytest.MonkeyPatch.context() as mp:
        for name, value in ENV.items():
            mp.setenv(name, value)
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


@pytest.fixture(scope="module")
def dropout(scenarios: dict[str, Future]) -> Dropout:
    return scenarios["dropout"].result()


@pytest.fixture(scope="module")
def pause(scenarios: dict[str, Future]) -> Pause:
    return scenarios["pause"].result()


@pytest.fixture(scope="module")
def slow(scenarios: dict[str, Future]) -> Slow:
    return scenarios["slow"].result()


@pytest.fixture(scope="module")
def vanish_paused(scenarios: dict[str, Future]) -> Vanish:
    return scenarios["vanish_paused"].result()


@pytest.fixture(scope="module")
def vanish_training(scenarios: dict[str, Future]) -> Vanish:
    return scenarios["vanish_training"].result()


def report(scenario: str, **figures: Any) -> None:
    """The figures a test measured, for people (shown with `pytest -s`)."""
    print(f"\n[{scenario}] " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def assert_agreement(
    run: Churn, nodes: list[str], chain: ChainRecord, last_step: int | None = None
) -> str:
    """Every learner that finished holds bit-identical final models, the agreed merge of the
    training's last step (`last_step`, default the last closed one)."""
    hashes = {}
    for node in nodes:
        result = run.result(node)
        assert result is not None, f"{node} wrote no result"
        final = run.model_dir(node) / "final_model.safetensors"
        assert _sha256(final) == result["final_model_hash"], node
        hashes[node] = result["final_model_hash"]
    assert len(set(hashes.values())) == 1, hashes
    final_hash = next(iter(hashes.values()))
    if last_step is None:
        last_step = max(k for k in chain.steps if chain.steps[k].closed)
    assert chain.steps[last_step].agreed_hash == final_hash, last_step
    return final_hash


# ---------------------------------------------------------------------------------- dropout


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
        kill_step = run.wait_for(lambda: run.everyone_training("abcd"), "all training", alive=alive)
        run.kill("d")
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


def test_dropout_above_quorum_the_others_go_on(dropout: Dropout) -> None:
    run, chain, addr = dropout.run, dropout.chain, dropout.addr
    survivors = {addr[n] for n in "abc"}
    assert all(dropout.exited[n] for n in "abc"), dropout.exited  # nobody hung
    # The step d was killed in, and every step until it came back: the 3 survivors, on chain.
    without_d = range(dropout.kill_step, dropout.restart_step)
    assert len(without_d) >= 3
    for k in without_d:
        assert chain.steps[k].closed and chain.participants(k) == survivors, k
        assert chain.steps[k].agreed_hash is not None, k
    # Once the quorum was in, no step waited for the dead peer (or anyone) beyond the grace.
    delays = assert_closed_within_grace(chain)
    # What the survivors saw: their wait (chain polling, quorum, grace, closing) per step.
    around_kill = range(dropout.kill_step, dropout.kill_step + 3)
    waits = {n: {r["step"]: r["wait_s"] for r in run.rows(n)} for n in "abc"}
    waits_around_kill = [waits[n][k] for n in "abc" for k in around_kill]
    steady = [w for n in "abc" for k, w in waits[n].items() if 0 < k < dropout.kill_step]
    report(
        "dropout",
        kill_step=dropout.kill_step,
        max_survivor_wait_around_kill_s=round(max(waits_around_kill), 2),
        survivor_waits_around_kill_s=[round(w, 2) for w in waits_around_kill],
        median_wait_before_kill_s=round(statistics.median(steady), 2),
        close_after_quorum_s={k: delays[k] for k in around_kill},
        steps=chain.current_step,
        timeline=run.timeline,
    )
    assert_agreement(run, ["a", "b", "c"], chain)


def assert_closed_within_grace(chain: ChainRecord) -> dict[int, int]:
    """Every step after the first closed at most the grace period after its quorum was in
    (block timestamps: whole seconds, so one more; and MARGIN_S for closing under load)
    whoever was missing. Returns each step's delay."""
    delays = {}
    for k in range(1, chain.current_step):
        step = chain.steps[k]
        assert step.closed and step.quorum_at is not None and step.closed_at is not None, k
        delays[k] = step.closed_at - step.quorum_at
        assert delays[k] <= GRACE_S + MARGIN_S, (k, delays[k])
    return delays


def log_times_since(run: Churn, node: str, since: float) -> dict[str, float]:
    """Seconds from `since` (wall clock) to the milestones in `node`'s log after it: where the
    time from a (re)start to the first check-in goes."""
    milestones = {
        "joined": "joined the swarm",
        "behind": "catching up",
        "adopted": "adopted agreed model",
        "first_merge": " merged ",
    }
    found: dict[str, float] = {}
    for line in run.sw_log(node).splitlines():
        try:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            continue
        if stamp < since:
            continue
        for name, text in milestones.items():
            if name not in found and text in line:
                found[name] = round(stamp - since, 2)
    return found


def adopted_after_start(run: Churn, node: str) -> tuple[str, int]:
    """(hash prefix, step) of the agreed model `node` started from after it (re)joined the
    swarm last: the last one it adopted before its first merge (it catches up again if the
    swarm moved on too far while it was fetching), from its log."""
    log = run.sw_log(node)
    since_start = log[max(log.rfind("joined the swarm"), 0) :]
    first_merge = since_start.find(" merged ")
    before_merge = since_start if first_merge < 0 else since_start[:first_merge]
    found = re.findall(r"adopted agreed model ([0-9a-f]{12}) of step (\d+)", before_merge)
    assert found, f"{node} logged no catch-up after it (re)joined"
    prefix, step = found[-1]
    return prefix, int(step)


def assert_first_check_in_on_adopted_model(
    run: Churn, chain: ChainRecord, node: str, address: str, k: int
) -> Contribution:
    """`node`'s check-in for step k is based on the agreed model it fetched (hash-checked into
    its store) when it caught up: that of step k-1, or of an older step if the swarm moved on
    while it was fetching, which the chain then records as staleness."""
    prefix, j = adopted_after_start(run, node)
    agreed = chain.steps[j].agreed_hash
    assert agreed is not None and agreed.startswith(prefix)
    assert _sha256(run.node_dirs[node] / "files" / agreed) == agreed
    contribution = chain.contribution(k, address)
    assert contribution is not None
    assert contribution.base_hash == agreed
    assert contribution.staleness == k - 1 - j <= 2, (contribution, j)
    return contribution


def assert_merged_by_everyone(chain: ChainRecord, address: str, steps: range) -> None:
    """No participant left `address`'s contribution out of its merge in `steps`."""
    for k in steps:
        order = list(chain.steps[k].participants)
        if address not in order:
            continue
        for c in chain.contributions[k]:
            assert address not in c.rejected(order), (k, c.address)


def test_rejoin_with_same_identity_catches_up(dropout: Dropout) -> None:
    run, chain, d = dropout.run, dropout.chain, dropout.addr["d"]
    assert dropout.exited["d-restart"], run.procs["d-restart"].log_tail()
    rows = run.rows("d")  # the same model dir before and after the restart
    before = [r for r in rows if r["step"] < dropout.kill_step]
    after = rows[len(before) :]
    assert before and after
    first = after[0]
    assert first["caught_up"] is True
    # Its first accepted check-in after the restart is on chain, based on the agreed model
    # it fetched.
    r = chain.first_step_of(d, after=dropout.kill_step - 1)
    assert r is not None and r == first["step"] and r >= dropout.restart_step
    contribution = assert_first_check_in_on_adopted_model(run, chain, "d", d, r)
    # The chain and the REST API know it came back.
    assert chain.nodes[d].rejoined_at_step == r
    assert "dropped" in dropout.d_statuses and "rejoined" in dropout.d_statuses
    assert dropout.d_statuses.index("dropped") < dropout.d_statuses.index("rejoined")
    # It takes part in every step after that, and everybody merges its work.
    assert all(d in chain.participants(k) for k in range(r, chain.current_step))
    assert_merged_by_everyone(chain, d, range(r, chain.current_step))
    report(
        "rejoin",
        d_restart_to_first_check_in_s=round(dropout.d_restart_to_check_in_s, 2),
        d_restart_log_s=log_times_since(run, "d", dropout.d_restarted_at),
        d_rejoined_at_step=r,
        d_first_check_in_staleness=contribution.staleness,
        d_statuses=dropout.d_statuses,
    )
    assert_agreement(run, ["a", "b", "c", "d"], chain)


def test_join_mid_training_starts_from_the_agreed_model(dropout: Dropout) -> None:
    run, chain, e = dropout.run, dropout.chain, dropout.addr["e"]
    assert dropout.exited["e"], run.procs["e"].log_tail()
    rows = run.rows("e")
    assert rows and rows[0]["caught_up"] is True
    k = rows[0]["step"]
    assert k > 0 and k == chain.first_step_of(e)
    assert chain.nodes[e].enrolled_at_step >= dropout.restart_step
    contribution = assert_first_check_in_on_adopted_model(run, chain, "e", e, k)
    assert_merged_by_everyone(chain, e, range(k, chain.current_step))
    # Counted in the quorums from then on.
    later = range(k, chain.current_step)
    assert len(later) >= 2
    assert all(e in chain.participants(j) for j in later)
    assert all(len(chain.participants(j)) == 5 for j in later if j > k)
    report(
        "join",
        e_joined_at_step=k,
        e_first_check_in_staleness=contribution.staleness,
        e_start_to_first_check_in_s=round(dropout.e_start_to_check_in_s, 2),
    )
    assert_agreement(run, ["a", "b", "c", "d", "e"], chain)


# ------------------------------------------------------------------------------------ pause


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
        k = run.wait_for(
            lambda: run.everyone_training("abc"), "all training", alive=("a", "b", "c")
        )
        b_first_url = run.contract.node(addr["b"]).file_url
        run.kill("b", "c")
        if {addr["b"], addr["c"]} & set(run.contract.step(k).participants):
            raise RuntimeError("b or c checked in before it was killed: the kill came late")
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


def test_pause_below_quorum_and_resume(pause: Pause) -> None:
    run, chain, addr, k = pause.run, pause.chain, pause.addr, pause.pause_step
    assert pause.paused_docs
    for doc in pause.paused_docs:
        assert doc["state"] == "waiting_for_quorum", doc
        assert doc["current_step"] == k and doc["checked_in"] == 1, doc
        assert doc["effective_quorum"] == 2 and doc["min_peers"] == 2, doc
        # The two killed learners took part in the step before: the swarm still counts them
        # as active, and names them as the ones the step waits for.
        assert set(doc["waiting_for"]) == {addr["b"], addr["c"]}, doc
    assert "waiting for quorum: 1 of 2 checked in (training paused)" in run.sw_log("a")
    # Resumed by itself once b came back: b's check-in completed the quorum of step k, on the
    # agreed model of the step before (settled by a's report alone: b and c died before
    # reporting theirs).
    assert chain.participants(k) == {addr["a"], addr["b"]}
    assert chain.steps[k].closed and chain.steps[k].agreed_hash is not None
    restarted_rows = [r for r in run.rows("b") if r["step"] >= k]
    assert restarted_rows[0]["step"] == k and restarted_rows[0]["caught_up"] is True
    assert_first_check_in_on_adopted_model(run, chain, "b", addr["b"], k)
    report(
        "pause",
        pause_step=k,
        paused_for_s=round(pause.held_s, 1),
        waiting_for=pause.paused_docs[-1]["waiting_for"],
        b_restart_to_check_in_s=round(pause.restart_to_check_in_s, 2),
        b_restart_to_resume_s=round(pause.restart_to_resume_s, 2),
        exited=pause.exited,
        stuck_step=pause.stuck_step,
        timeline=run.timeline,
    )


def test_paused_swarm_finishes_after_a_restart_on_a_new_address(pause: Pause) -> None:
    run, chain, addr, k = pause.run, pause.chain, pause.addr, pause.pause_step
    # b came back on a new port, and the chain has its new file URL.
    assert chain.nodes[addr["b"]].file_url != pause.b_first_url
    # a fetches b's work at that new address: nobody leaves b out of a merge.
    assert_merged_by_everyone(chain, addr["b"], range(k, chain.current_step + 1))
    assert pause.stuck_step is None, f"step {pause.stuck_step} tied: never agreed"
    assert pause.exited == {"a": True, "b-restart": True}, run.procs["a"].log_tail()
    assert_agreement(run, ["a", "b"], chain)


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


def test_slow_node_costs_at_most_the_grace_period(slow: Slow) -> None:
    run, chain, addr = slow.run, slow.chain, slow.addr
    assert slow.exited == {"a": True, "b": True, "slow": True}, run.procs["slow"].log_tail()
    # The fast learners never wait for the slow one beyond the grace period: on chain, every
    # step closed within the grace period after its quorum; in their own record, their median
    # wait is below it (plus the margin).
    delays = assert_closed_within_grace(chain)
    fast_waits = [r["wait_s"] for n in "ab" for r in run.rows(n) if r["step"] > 0]
    assert statistics.median(fast_waits) < GRACE_S + MARGIN_S, fast_waits
    # Its late work is merged, with its staleness on chain, rather than thrown away.
    stale = [
        (k, c)
        for k in sorted(chain.contributions)
        for c in chain.contributions[k]
        if c.address == addr["slow"] and c.staleness > 0
    ]
    assert stale, "the slow learner's work was never offered late"

    def merged_by_all(k: int) -> bool:
        rows = [r for n in ("a", "b", "slow") for r in run.rows(n) if r["step"] == k]
        return bool(rows) and all(addr["slow"] in r["merged_from"] for r in rows)

    assert any(merged_by_all(k) for k, _ in stale), stale
    # Every step closed with at least the two fast learners; the slow one took part in some.
    slow_steps = [k for k in range(1, slow.last_step) if addr["slow"] in chain.participants(k)]
    assert slow_steps
    fast_total = [r["total_s"] for n in "ab" for r in run.rows(n) if r["step"] > 0]
    # What the slow learner costs the fast ones per step: the wait in steps it was late for
    # (closed without it, after the grace period) against the steps it was already in for.
    fast_rows = [r for n in "ab" for r in run.rows(n) if r["step"] > 0]
    late_for = [r["wait_s"] for r in fast_rows if r["step"] not in slow_steps]
    in_time = [r["wait_s"] for r in fast_rows if r["step"] in slow_steps]
    report(
        "slow",
        fast_median_wait_s=round(statistics.median(fast_waits), 2),
        fast_mean_wait_s=round(statistics.mean(fast_waits), 2),
        fast_max_wait_s=round(max(fast_waits), 2),
        close_after_quorum_s=delays,
        mean_close_after_quorum_s=round(statistics.mean(delays.values()), 2),
        fast_wait_when_slow_late_s=round(statistics.mean(late_for), 2) if late_for else None,
        fast_wait_when_slow_in_s=round(statistics.mean(in_time), 2) if in_time else None,
        fast_mean_sync_s=round(statistics.mean(fast_total), 2),
        stale_steps={k: c.staleness for k, c in stale},
        slow_took_part_in=slow_steps,
        last_step=slow.last_step,
        final_hashes={n: (run.result(n) or {}).get("final_model_hash") for n in ("a", "b", "slow")},
    )
    # The fast learners end on the same model: the agreed merge of the training's last step.
    assert_agreement(run, ["a", "b"], chain, last_step=slow.last_step)


def test_a_learner_late_for_the_last_step_ends_on_the_same_model(slow: Slow) -> None:
    run, chain = slow.run, slow.chain
    assert slow.exited == {"a": True, "b": True, "slow": True}, run.procs["slow"].log_tail()
    assert_agreement(run, ["a", "b", "slow"], chain)


# ----------------------------------------------------------------------------------- vanish


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
    return all((d / sha).exists() and _sha256(d / sha) == sha for d in dirs if d.parent.exists())


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


def test_nothing_lost_when_learners_vanish_while_paused(vanish_paused: Vanish) -> None:
    run, chain, x = vanish_paused.run, vanish_paused.chain, vanish_paused.addr["x"]
    k, agreed = vanish_paused.open_step, vanish_paused.latest_agreed
    assert agreed is not None
    first = vanish_paused.new_rows[0]
    assert first["caught_up"] is True and first["step"] == k
    contribution = chain.contribution(k, x)
    assert contribution is not None and contribution.base_hash == agreed
    # Every learner that held it was dead: the copy came from an SN node.
    assert f"adopted agreed model {agreed[:12]} of step {k - 1}" in run.sw_log("x")
    assert _sha256(run.node_dirs["x"] / "files" / agreed) == agreed
    for sn in ("sentinel", "sn1"):
        assert _sha256(run.work_dir / sn / "files" / agreed) == agreed
    # The dead learners' step files were refused (unreachable), not waited on forever.
    assert {a for a, _ in first["refused"]} == {vanish_paused.addr["a"], vanish_paused.addr["b"]}
    assert first["merged_from"] == [x]
    report("vanish_paused", open_step=k, x_first_sync=first)


def run_vanish_training(work_dir: Path) -> Vanish:
    """2 learners, min_peers 1, both killed while training (the last closed step's merge is
    then reported by nobody: reports ride on the next check-in). A new learner x must still
    catch up from the newest agreed model, which the sentinel holds."""
    with churn(work_dir) as run:
        run.start()
        for i, name in enumerate("ab"):
            run.learner(name, min_peers=1, batch_delay=0.25, seed=i)
        addr = {name: run.address(name) for name in "ab"}
        run.wait_for(lambda: run.contract.current_step() >= 3, "step 3", alive=("a", "b"))

        def training_and_archived() -> tuple[int, int, str] | None:
            """Both training step k, and the sentinel already holds the newest agreed model:
            once a and b are dead nobody else could serve it to the archive. Under load the
            archive may lag a step behind; then the next step is another chance."""
            k = run.everyone_training("ab")
            if k is None:
                return None
            latest = max((j for j in range(k) if run.contract.step(j).agreed_hash), default=None)
            if latest is None:
                return None
            agreed = run.contract.step(latest).agreed_hash
            return (k, latest, agreed) if agreed and _archived(run, agreed) else None

        k, latest, agreed = run.wait_for(
            training_and_archived, "both training, newest agreed model archived", alive=("a", "b")
        )
        run.kill("a", "b")
        if run.contract.step(k).participants:
            raise RuntimeError("a learner checked in before it was killed: the kill came late")
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


def test_nothing_lost_when_learners_vanish_mid_training(vanish_training: Vanish) -> None:
    run, chain, x = vanish_training.run, vanish_training.chain, vanish_training.addr["x"]
    k = vanish_training.open_step
    # When the last learner died, step k-1 was closed and nobody had reported its merge (the
    # fixture checked); the newest agreed model was an earlier step's, and the sentinel had it.
    report(
        "vanish_training",
        open_step=k,
        newest_agreed_step=vanish_training.latest_agreed_step,
        x_rows=len(vanish_training.new_rows),
        x_log_tail=run.sw_log("x").splitlines()[-3:],
    )
    assert vanish_training.new_rows, "x never finished a sync step: stuck catching up"
    first = vanish_training.new_rows[0]
    assert first["caught_up"] is True
    contribution = chain.contribution(first["step"], x)
    assert contribution is not None
    assert contribution.base_hash in {
        vanish_training.latest_agreed,
        chain.steps[first["step"] - 1].agreed_hash,
    }
