"""The test house's own helpers do what every other test relies on: whatever a test started is
gone after it, also when the test fails, and the chains it talks to answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from anvil_node import run_anvil
from chain_helpers import CHAIN_KINDS, ChainEndpoint, ChainServer, require_anvil
from process_helpers import ProcessReaper

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
# A parent that starts a child in its own process group, prints the child's pid, and sleeps.
PARENT_WITH_CHILD = [
    sys.executable,
    "-c",
    "import subprocess, sys, time\n"
    f"child = subprocess.Popen({SLEEPER!r})\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(600)",
]
# Ignores SIGTERM: only SIGKILL stops it.
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)",
]


def gone(pid: int) -> bool:
    """True when no process (not even a zombie) has `pid`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def dead(pid: int) -> bool:
    """True when `pid` no longer runs: gone, or a zombie that its new parent (init, which in
    a container may never reap it) has not reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def test_processes_are_stopped_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError, match="test failed"), ProcessReaper() as reaper:
        sleeper = reaper.start(SLEEPER)
        adopted = reaper.track(subprocess.Popen(SLEEPER))
        raise RuntimeError("test failed")
    assert sleeper.returncode == -signal.SIGTERM and adopted.returncode == -signal.SIGTERM
    assert gone(sleeper.pid) and gone(adopted.pid)  # reaped: no zombie


def test_a_group_leader_is_stopped_with_its_children() -> None:
    with ProcessReaper() as reaper:
        parent = reaper.start(PARENT_WITH_CHILD, stdout=subprocess.PIPE, start_new_session=True)
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        parent.stdout.close()
    assert parent.returncode == -signal.SIGTERM
    deadline = time.monotonic() + 10  # the child's signal is delivered asynchronously
    while not dead(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dead(child_pid)


def test_a_process_that_ignores_sigterm_is_killed() -> None:
    with ProcessReaper(grace_s=0.5) as reaper:
        stubborn = reaper.start(STUBBORN, stdout=subprocess.PIPE)
        assert stubborn.stdout is not None
        assert stubborn.stdout.readline() == b"ready\n"
        stubborn.stdout.close()
    assert stubborn.returncode == -signal.SIGKILL


def test_the_processes_fixture_starts_processes(processes: ProcessReaper) -> None:
    """Its teardown is `stop_all()`, tested above; here: it hands out a working reaper."""
    sleeper = processes.start(SLEEPER)
    assert sleeper.poll() is None


def test_chain_servers_answer_on_their_own_ports(
    chain_server: Callable[..., ChainServer], free_port: Callable[[], int]
) -> None:
    first, second = chain_server({}), chain_server({}, chain_id=99)
    assert first.url != second.url
    for server, chain_id in ((first, 1337), (second, 99)):
        request = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}
        assert requests.post(server.url, json=request, timeout=10).json()["result"] == hex(chain_id)
    port = free_port()
    assert port > 0 and f":{port}" not in (first.url, second.url)


def test_the_chain_endpoint_is_of_each_kind_and_its_bank_is_funded(
    chain_endpoint: ChainEndpoint,
) -> None:
    assert chain_endpoint.kind in CHAIN_KINDS
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_getBalance",
        "params": [chain_endpoint.bank.address, "latest"],
    }
    balance = requests.post(chain_endpoint.url, json=request, timeout=10).json()["result"]
    assert int(balance, 16) >= 10**21


def test_anvil_helper_always_stops_the_node() -> None:
    """run_anvil kills anvil when the block exits, also on an exception."""
    require_anvil()
    with pytest.raises(RuntimeError, match="boom"), run_anvil() as node:
        pid, url = node.pid, node.url
        assert requests.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=5
        ).ok
        raise RuntimeError("boom")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone and reaped: no zombie left either
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=5)
