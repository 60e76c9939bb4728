"""The `swarm` command line, run as a real subprocess against a real sentinel."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import requests

from swarm_learning.demo.local_swarm import LocalSwarm, free_port

CLI_TIMEOUT = 60
TRAINING_TIMEOUT = 120
NODE_START_TIMEOUT = 90
STOP_TIMEOUT = 15

TINY_PROGRAM = """\
import torch

from swarm_learning import SwarmCallback

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
callback = SwarmCallback(model=model, sync_frequency=2, min_peers=1)
callback.on_train_begin()
print("TRAINING STARTED")
"""


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSwarm]:
    swarm = LocalSwarm(work_dir=tmp_path_factory.mktemp("cli-swarm"))
    try:
        swarm.start_sentinel()
        yield swarm
    finally:
        swarm.stop()


@pytest.fixture(scope="module")
def sentinel_address(swarm: LocalSwarm) -> str:
    return requests.get(f"{swarm.sentinel_rest}/v1/health", timeout=10).json()["address"]


def clean_env() -> dict[str, str]:
    """This process's environment without any swarm setting that could leak into the CLI."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SWARM_")}


def swarm_cli(
    *args: str,
    timeout: float = CLI_TIMEOUT,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarm_network.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean_env(), **(env or {})},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def test_status_prints_the_nodes_table(swarm: LocalSwarm, sentinel_address: str) -> None:
    assert swarm.sentinel_rest is not None
    result = swarm_cli("status", "--sn", swarm.sentinel_rest)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("address"))
    assert header.split()[:3] == ["address", "role", "status"]
    assert lines[lines.index(header) + 1].startswith("───────")  # rich's rule
    row = next(line for line in lines if sentinel_address in line)
    assert row.split()[:3] == [sentinel_address, "network", "online"]
    assert row.index("network") == header.index("role")
    assert row.index("online") == header.index("status")
    assert "training: not_started" in result.stdout
    assert "Traceback" not in result.stderr


def test_status_accepts_a_trailing_slash(swarm: LocalSwarm, sentinel_address: str) -> None:
    result = swarm_cli("status", "--sn", f"{swarm.sentinel_rest}/", "--steps", "1")
    assert result.returncode == 0, result.stderr
    assert sentinel_address in result.stdout


def test_status_json_is_parseable(swarm: LocalSwarm, sentinel_address: str) -> None:
    assert swarm.sentinel_rest is not None
    result = swarm_cli("status", "--sn", swarm.sentinel_rest, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == {"trainings", "selected", "training", "nodes", "steps"}
    assert [t["name"] for t in doc["trainings"]["trainings"]] == ["default"]
    assert doc["selected"] == "default"
    assert doc["training"]["state"] == "not_started"
    nodes = {n["address"]: n for n in doc["nodes"]["nodes"]}
    assert nodes[sentinel_address]["role"] == "network"
    assert [s["step"] for s in doc["steps"]["steps"]] == [0]


def test_status_against_nothing_fails_clearly() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = swarm_cli("status", "--sn", url, timeout=30)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert "swarm status: error:" in result.stderr
    assert "cannot reach" in result.stderr
    assert url in result.stderr


def test_status_against_a_server_that_is_not_a_swarm_node_fails_clearly(
    swarm: LocalSwarm,
) -> None:
    assert swarm.sentinel_rpc is not None
    result = swarm_cli("status", "--sn", swarm.sentinel_rpc, timeout=30)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert "swarm status: error:" in result.stderr


def test_sl_with_a_missing_program_fails_clearly(swarm: LocalSwarm, tmp_path: Path) -> None:
    assert swarm.sentinel_rest is not None
    result = swarm_cli(
        "sl",
        "--sn",
        swarm.sentinel_rest,
        "--program",
        "missing.py",
        cwd=tmp_path,
        env={"SWARM_JOIN_TOKEN": "x"},
    )
    assert result.returncode != 0
    assert "missing.py" in result.stderr
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_sl_without_a_join_token_fails_clearly(swarm: LocalSwarm, tmp_path: Path) -> None:
    assert swarm.sentinel_rest is not None
    program = tmp_path / "train.py"
    program.write_text("raise SystemExit('the program must not start')\n")
    result = swarm_cli("sl", "--sn", swarm.sentinel_rest, "--program", str(program), cwd=tmp_path)
    assert result.returncode != 0
    assert "--join-token" in result.stderr
    assert "must not start" not in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_sl_with_a_wrong_join_token_is_refused(
    swarm: LocalSwarm, tmp_path: Path, sentinel_address: str
) -> None:
    assert swarm.sentinel_rest is not None
    program = tmp_path / "train.py"
    program.write_text(TINY_PROGRAM)
    token_file = tmp_path / "token"
    token_file.write_text("definitely-not-the-token\n")
    result = swarm_cli(
        "sl",
        "--sn",
        swarm.sentinel_rest,
        "--program",
        str(program),
        "--join-token-file",
        str(token_file),
        "--node-dir",
        str(tmp_path / "node"),
        "--file-port",
        "0",
        timeout=TRAINING_TIMEOUT,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "swarm sl: error: join refused: wrong join token" in result.stderr, output
    assert "Traceback" not in output, output
    assert "TRAINING STARTED" not in output
    # nothing was enrolled: still only the sentinel
    nodes = requests.get(f"{swarm.sentinel_rest}/v1/nodes", timeout=10).json()["nodes"]
    assert [n["address"] for n in nodes] == [sentinel_address]
    # the learner's log in its model dir tells the same story
    sw_log = tmp_path / "node" / "model" / "train_sw.log"
    if sw_log.exists():
        assert "definitely-not-the-token" not in sw_log.read_text(errors="replace")


def test_sentinel_help_lists_the_port_flags() -> None:
    result = swarm_cli("sentinel", "--help", timeout=30)
    assert result.returncode == 0, result.stderr
    for flag in ("--rpc-port", "--rest-port", "--file-port", "--join-token-file", "--host"):
        assert flag in result.stdout, flag


def test_top_level_help_lists_every_registered_command() -> None:
    """`swarm` is assembled from the `swarm.commands` entry points: it lists each of them, with
    its help line, and nothing else."""
    registered = sorted(ep.name for ep in entry_points(group="swarm.commands"))
    assert {"sentinel", "sn", "sl", "status", "demo"} <= set(registered)
    result = swarm_cli("--help", timeout=30)
    assert result.returncode == 0, result.stderr
    choices = re.search(r"usage: swarm \[-h\] \[-v\]\s+\{([a-z,]+)\}", result.stdout)
    assert choices is not None, result.stdout
    assert choices.group(1).split(",") == registered
    for name in registered:
        assert re.search(rf"^ +{name} +\S", result.stdout, re.MULTILINE), name


@pytest.mark.parametrize("name", sorted(ep.name for ep in entry_points(group="swarm.commands")))
def test_every_registered_command_has_its_help(name: str) -> None:
    result = swarm_cli(name, "--help", timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: swarm {name} "), result.stdout


def test_a_node_command_does_not_load_the_learner() -> None:
    """Only the named subcommand is loaded: a sentinel or SN node never imports torch."""
    probe = (
        "import sys\n"
        "from swarm_network.cli.main import build_parser\n"
        "build_parser(['sn', '--help'])\n"
        "print(sorted({'torch', 'swarm_learning'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=CLI_TIMEOUT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_unknown_command_is_a_usage_error() -> None:
    result = swarm_cli("fly", timeout=30)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------------------ node lifecycle


def start_node(
    log_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "swarm_network.cli.main", *args],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**clean_env(), **(env or {})},
        )


def wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + NODE_START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text(errors="replace")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"{url} not healthy:\n{log_path.read_text(errors='replace')}")


def wait_for_log(log_path: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + NODE_START_TIMEOUT
    while text not in log_path.read_text(errors="replace"):
        assert process.poll() is None, log_path.read_text(errors="replace")
        assert time.monotonic() < deadline, log_path.read_text(errors="replace")
        time.sleep(0.1)


def stop_node(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_an_sn_node_started_before_its_sentinel_joins_once_it_is_up(tmp_path: Path) -> None:
    """The SN node retries, with backoff, until the sentinel answers and admits it; then both
    stop cleanly (exit 0) on SIGTERM."""
    token = tmp_path / "join-token"
    token.write_text("lifecycle-token")
    rpc, rest, files, sn_rest, sn_files = (free_port() for _ in range(5))
    sn_log, sentinel_log = tmp_path / "sn.log", tmp_path / "sentinel.log"
    sentinel_url = f"http://127.0.0.1:{rest}"
    sn = start_node(
        sn_log,
        "sn", "--sentinel", sentinel_url, "--join-token-file", str(token),
        "--data-dir", str(tmp_path / "sn"),
        "--rest-port", str(sn_rest), "--file-port", str(sn_files),
    )  # fmt: skip
    sentinel: subprocess.Popen[bytes] | None = None
    try:
        wait_for_log(sn_log, "waiting for the sentinel", sn)
        sentinel = start_node(
            sentinel_log,
            "sentinel", "--data-dir", str(tmp_path / "sentinel"), "--join-token-file", str(token),
            "--rpc-port", str(rpc), "--rest-port", str(rest), "--file-port", str(files),
        )  # fmt: skip
        wait_healthy(f"http://127.0.0.1:{sn_rest}", sn, sn_log)
        nodes = requests.get(f"{sentinel_url}/v1/nodes", timeout=10).json()["nodes"]
        assert [n["file_url"] for n in nodes][1:] == [f"http://127.0.0.1:{sn_files}"]
        assert "is up: REST API at" in sn_log.read_text()
    finally:
        sn_status = stop_node(sn)
        sentinel_status = None if sentinel is None else stop_node(sentinel)
    assert sn_status == 0, sn_log.read_text(errors="replace")
    assert sentinel_status == 0, sentinel_log.read_text(errors="replace")
    for log_path in (sn_log, sentinel_log):
        text = log_path.read_text(errors="replace")
        assert "node_host: stopping" in text
        assert "Traceback" not in text


def test_an_sn_node_waiting_for_its_sentinel_stops_at_once(tmp_path: Path) -> None:
    """A signal cancels the start-up: no waiting out the sentinel's whole deadline."""
    log_path = tmp_path / "sn.log"
    sn = start_node(
        log_path,
        "sn", "--sentinel", f"http://127.0.0.1:{free_port()}",
        "--data-dir", str(tmp_path / "sn"), "--rest-port", "0", "--file-port", "0",
        env={"SWARM_JOIN_TOKEN": "x"},
    )  # fmt: skip
    wait_for_log(log_path, "waiting for the sentinel", sn)
    signalled = time.monotonic()
    status = stop_node(sn)
    assert time.monotonic() - signalled < STOP_TIMEOUT
    assert status == 0, log_path.read_text(errors="replace")
    assert "stopped during start-up" in log_path.read_text()


# --------------------------------------------------- secrets and ordinary mistakes (issue 14)


@pytest.mark.parametrize(
    "command",
    [
        ["sn", "--sentinel", "http://127.0.0.1:9"],
        ["sl", "--sn", "http://127.0.0.1:9", "--program", "train.py"],
        ["sentinel"],
    ],
)
def test_a_join_token_on_the_command_line_is_refused(command: list[str], tmp_path: Path) -> None:
    """Process arguments are visible to every user (ps): the token comes from a file or the
    environment, and a token given on the command line is refused before anything starts."""
    result = swarm_cli(*command, "--join-token", "secret-in-ps", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"swarm {command[0]}: error: --join-token is not accepted"), line
    assert "--join-token-file" in line and "SWARM_JOIN_TOKEN" in line
    assert not (tmp_path / "swarm-data").exists()  # nothing started


def test_the_sentinel_never_prints_a_command_holding_the_token(
    swarm: LocalSwarm, tmp_path: Path
) -> None:
    from sentinel.cli import _startup_text

    info = {
        "rpc_url": "http://h:1",
        "rest_url": "http://h:2",
        "file_url": "http://h:3",
        "contract_address": "0xC",
    }
    token_file = tmp_path / "join-token"
    on_terminal = _startup_text(info, token="TOKEN-123", token_file=token_file)
    from_env = _startup_text(info, token=None, token_file=None)
    for text in (on_terminal, from_env):
        commands = [line for line in text.splitlines() if line.strip().startswith("swarm ")]
        assert len(commands) == 3
        assert not any("TOKEN-123" in c or "--join-token " in c for c in commands), commands
    assert f"--join-token-file {token_file}" in on_terminal
    assert "join token     : TOKEN-123" in on_terminal  # shown once, on a terminal only
    assert "SWARM_JOIN_TOKEN" in from_env
    # The real sentinel (output redirected, token from its environment) prints no token at all.
    assert swarm.sentinel is not None
    printed = swarm.sentinel.log_path.read_text(errors="replace")
    assert "Sentinel is up." in printed
    assert swarm.join_token not in printed


MIN_PEERS_PROGRAM = """\
import os
from pathlib import Path

import requests
import torch

from swarm_learning import SwarmCallback

node_dir = Path(os.environ["SWARM_NODE_DIR"])
model = torch.nn.Sequential(torch.nn.Linear(4, 2))
training = requests.get(os.environ["SWARM_SN_URL"] + "/v1/training", timeout=10).json()
if not training["configured"]:  # configure it, alone (min_peers 1), and run step 0
    first = SwarmCallback(
        model=model, sync_frequency=2, min_peers=1,
        node_dir=node_dir / "first", model_dir=node_dir / "first" / "model",
    )
    first.on_train_begin()
    training = requests.get(os.environ["SWARM_SN_URL"] + "/v1/training", timeout=10).json()
other = SwarmCallback(
    model=model, sync_frequency=2, min_peers=training["min_peers"] + 1,
    node_dir=node_dir / "other", model_dir=node_dir / "other" / "model",
)
other.on_train_begin()
print("TRAINING STARTED")
"""


def test_a_learner_asking_for_another_min_peers_exits_with_one_line(
    swarm: LocalSwarm, tmp_path: Path
) -> None:
    assert swarm.sentinel_rest is not None
    program = tmp_path / "train.py"
    program.write_text(MIN_PEERS_PROGRAM)
    result = swarm_cli(
        "sl", "--sn", swarm.sentinel_rest, "--program", str(program),
        "--node-dir", str(tmp_path / "node"), "--file-port", "0",
        timeout=TRAINING_TIMEOUT, cwd=tmp_path, env={"SWARM_JOIN_TOKEN": swarm.join_token},
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("swarm sl: error:")]
    assert len(errors) == 1, output
    assert "asks for min_peers=" in errors[0] and "the swarm's training uses" in errors[0]
    assert "TRAINING STARTED" not in output


# aiohttp logs the last three of these (a bad method it answers without a log record).
LOGGED_BAD_REQUESTS = 3


def test_bad_http_leaves_one_line_and_no_traceback_in_the_sentinels_log(
    swarm: LocalSwarm,
) -> None:
    import socket
    from urllib.parse import urlsplit

    assert swarm.sentinel_rest is not None and swarm.sentinel is not None
    url = urlsplit(swarm.sentinel_rest)
    assert url.hostname is not None and url.port is not None
    garbage = [
        b"GARBAGE\r\n\r\n",
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /v1/\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v1/join HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n\r\n",
    ]
    for payload in garbage:
        with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
            conn.sendall(payload)
            assert conn.recv(64).startswith(b"HTTP/1.")  # answered (400), not dropped
    assert requests.get(f"{swarm.sentinel_rest}/v1/health", timeout=10).ok
    deadline = time.monotonic() + 10
    log_text = ""
    while time.monotonic() < deadline:
        log_text = swarm.sentinel.log_path.read_text(errors="replace")
        if log_text.count("Error handling request") >= LOGGED_BAD_REQUESTS:
            break
        time.sleep(0.2)
    lines = [line for line in log_text.splitlines() if "Error handling request" in line]
    assert len(lines) >= LOGGED_BAD_REQUESTS, log_text[-3000:]
    assert all("WARNING" in line and "HTTP 400" in line for line in lines), lines
    assert "Traceback" not in log_text, log_text[-3000:]
