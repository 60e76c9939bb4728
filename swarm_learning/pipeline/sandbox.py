"""How a task is isolated from its node and from other tasks.

Always: its own process (group), its own working directory, a minimal environment (no
settings, tokens or paths of the node), and limits on CPU time, memory (address space) and
wall-clock time. As root on Linux, also (`namespaces`): its own network namespace (no network
at all: it reaches the world only through the files its node prepared), its own PID namespace
(it cannot see the node's processes), and its own mount namespace in which the node's directory
(its key, its file store, other tasks' directories) is covered by an empty tmpfs, only the
task's own directory and its read-only datasets are mounted back, and then every capability is
dropped so the task cannot undo any of it. The parent side (`launch`) runs in the node; the
child side (`enter`) runs in the task process before any of the task's code.
"""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROCESS = "process"
NAMESPACES = "namespaces"
CONTAINER = "container"

MS_NOSUID, MS_NODEV, MS_RDONLY = 2, 4, 1
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 38, 24
LINUX_CAPABILITY_VERSION_3 = 0x20080522
O_PATH = getattr(os, "O_PATH", 0o10000000)
LAST_CAPABILITY = 63


@dataclass(frozen=True)
class Limits:
    wall_s: float
    cpu_s: int
    memory_mb: int


def available_isolation() -> str:
    """The strongest isolation this node can give without a container runtime."""
    if sys.platform == "linux" and os.geteuid() == 0 and shutil.which("unshare"):
        return NAMESPACES
    return PROCESS


def describe(isolation: str) -> str:
    if isolation == NAMESPACES:
        return (
            "each task in its own process with its own dir, minimal environment, CPU/memory/"
            "wall-time limits, no network, own PID namespace, the node's dir hidden, no "
            "capabilities"
        )
    return (
        "each task in its own process with its own dir, minimal environment and CPU/memory/"
        "wall-time limits; NOT hidden from the node's files and network (needs root and "
        "unshare for namespaces)"
    )


def container_runtime() -> str | None:
    """docker or podman, if one is installed and its daemon answers."""
    for name in ("podman", "docker"):
        path = shutil.which(name)
        if path is None:
            continue
        try:
            probe = subprocess.run(
                [path, "info"], capture_output=True, timeout=10, check=False, text=True
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return path
    return None


def minimal_environment(task_dir: Path) -> dict[str, str]:
    project_root = Path(__file__).resolve().parents[2]
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(task_dir),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(project_root),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _set_limits(limits: Limits) -> None:
    """Runs in the child between fork and exec: only system calls, no locks taken."""
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 5))
    memory = limits.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def launch(
    *, isolation: str, task_dir: Path, spec_path: Path, log_path: Path, limits: Limits
) -> int:
    """Run the task runtime on `spec_path`; returns its exit status (negative: killed by that
    signal; -SIGKILL also when it ran past its wall-clock limit)."""
    command = [sys.executable, "-m", "swarm_learning.pipeline.runner", str(spec_path)]
    if isolation == NAMESPACES:
        command = [
            "unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc",
            "--propagation", "private", "--", *command,
        ]  # fmt: skip
    with log_path.open("ab") as log_file:
        child = subprocess.Popen(
            command,
            cwd=task_dir,
            env=minimal_environment(task_dir),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: _set_limits(limits),  # noqa: PLW1509 - system calls only
        )
    try:
        return child.wait(timeout=limits.wall_s)
    except subprocess.TimeoutExpired:
        log.warning("task in %s ran past its %.0f s limit: killing it", task_dir, limits.wall_s)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        return -signal.SIGKILL
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


# ---------------------------------------------------------------------- inside the task


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(libc: ctypes.CDLL, source: str, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:  # fmt: skip
    _check(
        libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _drop_capabilities(libc: ctypes.CDLL) -> None:
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    for cap in range(LAST_CAPABILITY + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the kernel's last: fine
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), data), "capset")


def enter(config: dict[str, Any]) -> None:
    """Apply the isolation of `config` to this process (the task's), before its code runs."""
    if config["isolation"] != NAMESPACES:
        return
    libc = _libc()
    task_dir = str(Path(config["task_dir"]))
    for target, source in config["datasets"].items():
        fd = os.open(source, O_PATH)
        _mount(libc, f"/proc/self/fd/{fd}", target, None, MS_BIND)
        _mount(libc, "none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
        os.close(fd)
    task_fd = os.open(task_dir, O_PATH | os.O_DIRECTORY)
    for hidden in config["hide"]:
        _mount(libc, "tmpfs", hidden, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    os.makedirs(task_dir, exist_ok=True)
    _mount(libc, f"/proc/self/fd/{task_fd}", task_dir, None, MS_BIND | MS_REC)
    os.close(task_fd)
    os.chdir(task_dir)
    _drop_capabilities(libc)
