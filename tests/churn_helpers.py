"""The churn end-to-end tests' harness: one swarm of real processes whose learners can be
killed, stalled and restarted, with its timeline and what the chain and the learners recorded.
Not a test module (the scenarios: tests/churn_scenarios.py).

Every learner runs `tests/churn_program.py` through `swarm sl --program`; "kill" is SIGKILL of
a learner's whole process group. Timeouts are short (grace 2 s) and passed through the SWARM_*
environment of the learners.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests
from eth_account import Account

from swarm_learning.demo.local_swarm import LocalSwarm, NodeProcess
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
# How long a check-in already sent takes to be mined (the sentinel mines each transaction as
# it arrives), with room for a loaded machine.
CHECK_IN_SETTLE_S = 1.0
STEP_TIMEOUT_S = 90  # the longest any single thing a scenario waits for may take
# Start-up: all scenarios start their learners at once (about 20 processes importing torch and
# web3 on 2 cores, beside the rest of the suite); the first keys took 70 s when run alone.
START_TIMEOUT_S = 240
FINISH_TIMEOUT_S = 120

ABORT = threading.Event()  # set when the session is done: scenarios still running stop


def sha256_of(path: Path) -> str:
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
        self.swarm = LocalSwarm(work_dir=self.work_dir, environment=dict(ENV))
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
            self.stalled.discard(name)
            self.note(f"killed {name}")

    def kill_before_check_in(
        self,
        victims: tuple[str, ...],
        ready: Callable[[], T | None],
        what: str,
        *,
        alive: tuple[str, ...],
        attempts: int = 5,
    ) -> T:
        """Kill `victims` before any of them checks in for the open step that `ready` found
        (`ready` returns that step, or a tuple that starts with it). Between `ready` seeing
        them train and a kill, a learner on a loaded machine can finish its local training and
        check in; so they are stalled (SIGSTOP) first and the chain is read once a check-in
        already sent has been mined: a state that cannot move. A late try resumes them and
        waits for the next step."""
        victim_addresses = {self.address(name) for name in victims}
        for attempt in range(1, attempts + 1):
            found = self.wait_for(ready, what, alive=alive)
            k = found[0] if isinstance(found, tuple) else found
            for name in victims:
                self.stall(name)
            time.sleep(CHECK_IN_SETTLE_S)
            if not victim_addresses & set(self.contract.step(k).participants):
                self.kill(*victims)
                return found
            for name in victims:
                self.resume(name)
            self.note(f"try {attempt}: a victim checked in for step {k} before it was stalled")
        raise RuntimeError(f"{attempts} tries: the victims always checked in first")

    def address(self, node: str) -> str:
        key = self.node_dirs[node] / "node.key"
        self.wait_for(lambda: key.exists() or None, f"{node}'s key", timeout_s=START_TIMEOUT_S)
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
        if k == 0:
            return None
        if not all((rows := self.rows(n)) and rows[-1]["step"] == k - 1 for n in nodes):
            return None
        # Read last: the nearer to the caller's next move, the less can happen in between.
        return None if self.contract.step(k).participants else k

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
