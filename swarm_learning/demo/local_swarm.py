"""A whole swarm as separate processes on this machine: what `swarm demo` runs and what the
end-to-end tests start. Every process gets its own dirs, ports and log file, and `stop()`
always leaves nothing behind (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from swarm_learning.settings import ENV_NAMES
from swarm_network.backoff import Backoff
from swarm_network.defaults import LOOPBACK
from swarm_network.errors import SwarmError
from swarm_network.http_json import get_json

log = logging.getLogger(__name__)

STOP_GRACE_S = 5.0
HEALTH_TIMEOUT_S = 2.0  # one health check; the whole wait is the caller's timeout_s
HEALTH_POLL = Backoff(first_s=0.1, max_s=0.5)  # while a node starts
EXIT_POLL_S = 0.5  # while learners train


# Ports handed out are taken from below the kernel's ephemeral range: a port the kernel picked
# for `bind(0)` is free again once probed, and with many nodes connecting out, an outgoing
# connection took it before the node bound it (a churn run saw "port already in use"). Each port
# is handed out once per process, so concurrent swarms in threads never share one.
_PORT_RANGE = (20000, 32767)
_handed_out: set[int] = set()
_port_lock = threading.Lock()


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on now, outside the ephemeral range, not handed out before."""
    with _port_lock:
        for _ in range(1000):
            port = random.randint(*_PORT_RANGE)
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port in {_PORT_RANGE} on {host}")


@dataclass
class NodeProcess:
    name: str
    popen: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the node's whole process group (a learner's `swarm sl` and its program)."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


@dataclass
class LocalSwarm:
    work_dir: Path
    join_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    host: str = LOOPBACK
    processes: list[NodeProcess] = field(default_factory=list)
    sentinel_rest: str | None = None
    sentinel_rpc: str | None = None
    sn_rest: str | None = None
    sentinel: NodeProcess | None = None
    _sentinel_ports: tuple[int, int, int] | None = None
    # Settings every node of this swarm gets on top of this process's environment. Kept here
    # rather than set in `os.environ`: swarms run from several threads at once, and another
    # thread reading the environment while one is changed raises (a CI run saw KeyError).
    environment: dict[str, str] = field(default_factory=dict)

    def _spawn(
        self, name: str, args: list[str], env: Mapping[str, str] | None = None
    ) -> NodeProcess:
        """Start one node; `env` adds settings for this node only."""
        log_dir = self.work_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        handle = log_path.open("ab")
        environment = {
            **os.environ,
            **self.environment,
            **(env or {}),
            "PYTHONUNBUFFERED": "1",
            ENV_NAMES["join_token"]: self.join_token,
        }
        popen = subprocess.Popen(
            [sys.executable, "-m", "swarm_network.cli.main", *args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
            start_new_session=True,  # its own process group: stop() reaches its children too
        )
        handle.close()
        process = NodeProcess(name=name, popen=popen, log_path=log_path)
        self.processes.append(process)
        return process

    def _wait_healthy(self, process: NodeProcess, rest_url: str, timeout_s: float) -> None:
        backoff = Backoff(HEALTH_POLL.first_s, HEALTH_POLL.max_s, deadline_s=timeout_s)
        for _attempt in backoff.sleeps():
            if not process.alive():
                raise RuntimeError(f"{process.name} exited early:\n{process.log_tail()}")
            try:
                get_json(f"{rest_url}/v1/health", timeout_s=HEALTH_TIMEOUT_S)
                return
            except SwarmError:
                continue  # not listening yet
        raise RuntimeError(f"{process.name} not healthy after {timeout_s}s:\n{process.log_tail()}")

    def start_sentinel(self, timeout_s: float = 60.0, extra_args: list[str] | None = None) -> str:
        """Start the sentinel; called again after it died, it comes back on the same ports
        and data dir (a restart)."""
        if self._sentinel_ports is None:
            self._sentinel_ports = (free_port(), free_port(), free_port())
        rpc, rest, files = self._sentinel_ports
        process = self._spawn(
            "sentinel",
            [
                "sentinel",
                "--data-dir", str(self.work_dir / "sentinel"),
                "--host", self.host,
                "--rpc-port", str(rpc),
                "--rest-port", str(rest),
                "--file-port", str(files),
                *(extra_args or []),
            ],
        )  # fmt: skip
        self.sentinel = process
        self.sentinel_rest = f"http://{self.host}:{rest}"
        self.sentinel_rpc = f"http://{self.host}:{rpc}"
        self._wait_healthy(process, self.sentinel_rest, timeout_s)
        return self.sentinel_rest

    def start_sn(self, name: str = "sn1", timeout_s: float = 60.0) -> str:
        assert self.sentinel_rest is not None, "start the sentinel first"
        rest, files = free_port(), free_port()
        process = self._spawn(
            name,
            [
                "sn",
                "--sentinel", self.sentinel_rest,
                "--data-dir", str(self.work_dir / name),
                "--host", self.host,
                "--rest-port", str(rest),
                "--file-port", str(files),
            ],
        )  # fmt: skip
        url = f"http://{self.host}:{rest}"
        self._wait_healthy(process, url, timeout_s)
        self.sn_rest = self.sn_rest or url
        return url

    def learner_dir(self, name: str) -> Path:
        return self.work_dir / name

    def start_learner(
        self, name: str, sn_url: str, module: str, program_args: list[str], device: str = "cpu"
    ) -> NodeProcess:
        node_dir = self.learner_dir(name)
        return self._spawn(
            name,
            [
                "sl",
                "--sn", sn_url,
                "--module", module,
                "--node-dir", str(node_dir),
                "--file-host", self.host,
                "--file-port", "0",
                "--device", device,
                "--", *program_args,
            ],
        )  # fmt: skip

    def wait(self, processes: list[NodeProcess], timeout_s: float, on_tick=None) -> bool:  # type: ignore[no-untyped-def]
        """True when all `processes` exited within the timeout; `on_tick()` between checks."""
        polls = Backoff(first_s=EXIT_POLL_S, max_s=EXIT_POLL_S, deadline_s=timeout_s)
        for _attempt in polls.sleeps():
            if all(not p.alive() for p in processes):
                return True
            if on_tick is not None:
                on_tick()
        return all(not p.alive() for p in processes)

    def stop(self) -> None:
        """Stop every process: SIGTERM to each process group, SIGKILL what is left."""
        for process in self.processes:
            if process.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in self.processes:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop; killing it", process.name)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait()

    def __enter__(self) -> LocalSwarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
