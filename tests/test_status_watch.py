"""`swarm status --watch` as a person runs it: a real sentinel, the real command in a
subprocess, and a node joining while it watches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from swarm_learning.demo.local_swarm import LocalSwarm

WATCH_TIMEOUT_S = 60.0


class Output:
    """The watcher's stdout, read by a thread so the test never blocks on a pipe."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.text = ""
        self._lock = threading.Lock()
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._lock:
                self.text += line

    def wait_for(self, needle: str, timeout_s: float = WATCH_TIMEOUT_S) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if needle in self.text:
                    return self.text
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} never shown; output so far:\n{self.text}")


@pytest.fixture()
def swarm(tmp_path: Path) -> Iterator[LocalSwarm]:
    swarm = LocalSwarm(work_dir=tmp_path)
    try:
        swarm.start_sentinel()
        yield swarm
    finally:
        swarm.stop()


def test_watch_redraws_when_a_node_joins_and_stops_on_ctrl_c(swarm: LocalSwarm) -> None:
    assert swarm.sentinel_rest is not None
    sentinel = requests.get(f"{swarm.sentinel_rest}/v1/health", timeout=10).json()["address"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWARM_")}
    watcher = subprocess.Popen(
        [sys.executable, "-m", "swarm_network.cli.main", "status", "--watch"]
        + ["--sn", swarm.sentinel_rest],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        # As a script in the background starts it (and as `nohup pytest &` starts every
        # test's children): with SIGINT ignored. Ctrl-C must still stop the watch.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        out = Output(watcher)
        first = out.wait_for(sentinel)
        assert "training: not_started" in first
        assert f"watching {swarm.sentinel_rest}/v1/stream" in first
        header = next(line for line in first.splitlines() if line.startswith("address"))
        assert header.split()[:3] == ["address", "role", "status"]

        sn_url = swarm.start_sn()
        sn = requests.get(f"{sn_url}/v1/health", timeout=10).json()["address"]
        redrawn = out.wait_for(sn)
        assert redrawn.count("training: not_started") >= 2  # a new picture, not the first one
        row = next(line for line in redrawn.splitlines() if line.startswith(sn))
        assert row.split()[1:3] == ["network", "online"]
    finally:
        watcher.send_signal(2)  # SIGINT, as Ctrl-C
        try:
            code = watcher.wait(timeout=15)
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait()
    assert code == 0
    stderr = watcher.stderr.read() if watcher.stderr else ""
    assert "Traceback" not in stderr
