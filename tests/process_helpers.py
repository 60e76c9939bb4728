"""Stopping every process a test started, whatever happened to the test. Not a test module.

A test that fails half-way must not leave a chain server, an anvil or a learner running: it
would hold its port and eat CPU under every later test of the session.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

STOP_GRACE_S = 5.0


class ProcessReaper:
    """Starts or adopts processes, and stops every one of them in `stop_all()`.

    Stopping: SIGTERM, then SIGKILL after `grace_s`; to the whole process group for a process
    that leads its own (started with `start_new_session=True`), so its children go too. Each
    process is reaped: no zombie is left either.
    """

    def __init__(self, *, grace_s: float = STOP_GRACE_S) -> None:
        self._grace_s = grace_s
        # Each process, and whether it leads its own process group (known once it has
        # started: Popen returns after the child's setsid and exec).
        self._processes: list[tuple[subprocess.Popen[Any], bool]] = []

    def start(self, args: Sequence[str], **popen_options: Any) -> subprocess.Popen[Any]:
        """`subprocess.Popen(args, **popen_options)`, stopped by `stop_all()`."""
        return self.track(subprocess.Popen(args, **popen_options))

    def track(self, process: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
        """Stop `process` in `stop_all()` (returned, for chaining)."""
        leads_group = False
        with contextlib.suppress(ProcessLookupError):  # already reaped: nothing to stop
            leads_group = os.getpgid(process.pid) == process.pid
        self._processes.append((process, leads_group))
        return process

    def stop_all(self) -> None:
        for process, leads_group in self._processes:
            if process.poll() is None:
                _signal(process, signal.SIGTERM, group=leads_group)
        deadline = time.monotonic() + self._grace_s
        for process, leads_group in self._processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("process %d did not stop on SIGTERM; killing it", process.pid)
            _signal(process, signal.SIGKILL, group=leads_group)  # what is left of its group
            process.wait()
        self._processes.clear()

    def __enter__(self) -> ProcessReaper:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()


def _signal(process: subprocess.Popen[Any], signum: int, *, group: bool) -> None:
    """Send `signum` to the process group `process` leads (which outlives a reaped leader
    while its children run), or else to the process alone if it still runs."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(process.pid, signum)
        elif process.poll() is None:
            process.send_signal(signum)
