"""A new user's first hour, through the command line as the README prints it: real sentinel,
real `swarm` processes, free ports. Each of these once ended in a traceback or did nothing
useful (issue "See the swarm", point 5)."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm_learning.demo.local_swarm import LocalSwarm, free_port
from swarm_network.defaults import FILE_PORT, LOOPBACK

CLI_TIMEOUT = 120
SWARM = [sys.executable, "-m", "swarm_network.cli.main"]

ONE_LEARNER_PROGRAM = """\
import torch

from swarm_learning import SwarmCallback

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 2))
callback = SwarmCallback(model=model, sync_frequency=2, min_peers=1)
callback.on_train_begin()
for _ in range(4):
    callback.on_batch_end()
callback.on_train_end()
print("TRAINING DONE")
"""

SAMPLES_WITHOUT_COUNT = """\
import torch

from swarm_learning import SwarmCallback

model = torch.nn.Sequential(torch.nn.Linear(4, 2))
SwarmCallback(model=model, min_peers=1, merge_params={"weight_by": "samples"})
print("MUST NOT GET HERE")
"""

PARAMS_AS_A_LIST = SAMPLES_WITHOUT_COUNT.replace('{"weight_by": "samples"}', '["beta", 0.1]')


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWARM_")}
    return {**env, **extra}


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        cwd=cwd,
        env=clean_env(**env),
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSwarm]:
    """A sentinel whose file server is on the default port, as `swarm sentinel` starts it."""
    if not port_is_free(FILE_PORT):
        pytest.skip(f"port {FILE_PORT} is taken on this machine")
    swarm = LocalSwarm(work_dir=tmp_path_factory.mktemp("first-hour"))
    swarm._sentinel_ports = (free_port(), free_port(), FILE_PORT)
    try:
        swarm.start_sentinel()
        yield swarm
    finally:
        swarm.stop()


def printed_command(swarm: LocalSwarm, title: str) -> list[str]:
    """The command the sentinel printed under `title`, as the shell would split it."""
    assert swarm.sentinel is not None
    lines = swarm.sentinel.log_path.read_text().splitlines()
    command = lines[lines.index(title) + 1].strip()
    assert command.startswith("swarm ")
    return shlex.split(command)[1:]


def test_the_printed_learner_command_runs_as_printed_and_shows_its_progress(
    swarm: LocalSwarm, tmp_path: Path
) -> None:
    args = printed_command(swarm, "Start a learner:")
    assert args[args.index("--program") + 1] == "train.py"
    (tmp_path / "train.py").write_text(ONE_LEARNER_PROGRAM)
    result = run(SWARM + args, tmp_path, SWARM_JOIN_TOKEN=swarm.join_token)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "TRAINING DONE" in result.stdout
    assert "Traceback" not in output
    # The node's progress reaches the console (INFO), not only train_sw.log.
    assert "joined the swarm" in result.stderr, result.stderr
    assert "final model" in result.stderr
    sw_log = (tmp_path / "swarm-data" / "sl" / "model" / "train_sw.log").read_text()
    assert "joined the swarm" in sw_log
    # The console shows each record once (one handler), in the log's format.
    assert result.stderr.count("joined the swarm") == 1


def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("flag", ["--rpc-port", "--rest-port", "--file-port"])
def test_a_sentinel_port_in_use_is_one_line_naming_the_flag(flag: str, tmp_path: Path) -> None:
    for port in taken_port():
        ports = {"--rpc-port": free_port(), "--rest-port": free_port(), "--file-port": free_port()}
        ports[flag] = port
        args = ["sentinel", "--data-dir", str(tmp_path / "s")]
        args += [str(part) for pair in ports.items() for part in pair]
        result = run(SWARM + args, tmp_path, SWARM_JOIN_TOKEN="t")
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
        assert errors == [
            f"swarm sentinel: error: {listener(flag)}: port {port} on {LOOPBACK} is already in "
            f"use; choose another with {flag} PORT ({flag} 0 takes any free port)"
        ], result.stderr


def listener(flag: str) -> str:
    return {
        "--rpc-port": "chain JSON-RPC",
        "--rest-port": "REST API",
        "--file-port": "file server",
    }[flag]


@pytest.mark.parametrize("flag", ["--rest-port", "--file-port"])
def test_an_sn_port_in_use_is_one_line_naming_the_flag(
    flag: str, swarm: LocalSwarm, tmp_path: Path
) -> None:
    assert swarm.sentinel_rest is not None
    for port in taken_port():
        ports = {"--rest-port": free_port(), "--file-port": free_port()}
        ports[flag] = port
        args = ["sn", "--sentinel", swarm.sentinel_rest, "--data-dir", str(tmp_path / "sn")]
        args += [str(part) for pair in ports.items() for part in pair]
        result = run(SWARM + args, tmp_path, SWARM_JOIN_TOKEN=swarm.join_token)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert result.stderr.strip().splitlines()[-1] == (
            f"swarm sn: error: {listener(flag)}: port {port} on {LOOPBACK} is already in use; "
            f"choose another with {flag} PORT ({flag} 0 takes any free port)"
        ), result.stderr


def test_a_learner_port_in_use_is_one_line_naming_the_flag(
    swarm: LocalSwarm, tmp_path: Path
) -> None:
    assert swarm.sentinel_rest is not None
    (tmp_path / "train.py").write_text(ONE_LEARNER_PROGRAM)
    for port in taken_port():
        args = ["sl", "--sn", swarm.sentinel_rest, "--program", "train.py"]
        result = run(SWARM + args + ["--file-port", str(port)], tmp_path, SWARM_JOIN_TOKEN="t")
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert result.stderr.strip().splitlines()[-1] == (
            f"swarm sl: error: file server: port {port} on {LOOPBACK} is already in use; "
            "choose another with --file-port PORT (--file-port 0 takes any free port)"
        ), result.stderr


@pytest.mark.parametrize(
    ("program", "message"),
    [
        (SAMPLES_WITHOUT_COUNT, "pass num_samples (the number of local training samples)"),
        (PARAMS_AS_A_LIST, "merge_params must be a dict or a JSON object as text"),
    ],
)
def test_a_configuration_error_ends_with_one_line_and_a_non_zero_exit(
    program: str, message: str, swarm: LocalSwarm, tmp_path: Path
) -> None:
    assert swarm.sentinel_rest is not None
    (tmp_path / "train.py").write_text(program)
    args = ["sl", "--sn", swarm.sentinel_rest, "--program", "train.py", "--file-port", "0"]
    result = run(SWARM + args, tmp_path, SWARM_JOIN_TOKEN=swarm.join_token)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "MUST NOT GET HERE" not in result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("swarm sl: error: ") and message in line, line


def test_learners_syncing_per_epoch_and_every_k_batches_train_together(tmp_path: Path) -> None:
    """One learner syncs once per local epoch (`--sync-frequency epoch`), the other every 9
    batches: the first has one step per epoch (plus the first), each row with its wall-clock
    times, local training time and figures."""
    from swarm_learning.demo.digits_swarm import TRAIN_MODULE, prepare_learner_data

    epochs = 2
    began = time.time()
    with LocalSwarm(work_dir=tmp_path) as local:
        names = ["per-epoch", "every-9"]
        prepare_learner_data(local, names, seed=0)
        url = local.start_sentinel()
        common = ["--epochs", str(epochs), "--min-peers", "2"]
        learners = [
            local.start_learner(
                names[0], url, TRAIN_MODULE, common + ["--sync-frequency", "epoch"]
            ),
            local.start_learner(names[1], url, TRAIN_MODULE, common + ["--sync-frequency", "9"]),
        ]
        assert local.wait(learners, CLI_TIMEOUT)
        for learner in learners:
            assert learner.popen.returncode == 0, learner.log_tail()
    ended = time.time()
    rows = [
        json.loads(line)
        for line in (tmp_path / names[0] / "model" / "sync_steps.jsonl").read_text().splitlines()
    ]
    # Its own training: one step per epoch, plus the first. Stopped then (snapshot, the
    # default), it offers its last weights in every step the other learner still trains.
    own, after = rows[: 1 + epochs], rows[1 + epochs :]
    assert [r["step"] for r in own] == list(range(1 + epochs))
    other = [
        json.loads(line)
        for line in (tmp_path / names[1] / "model" / "sync_steps.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in after] == list(range(1 + epochs, other[-1]["step"] + 1))
    log = (tmp_path / "logs" / f"{names[0]}.log").read_text()
    per_epoch = re.search(r"\((\d+) batches/epoch\)", log)
    assert per_epoch is not None, log
    assert f"syncing once per epoch: every {per_epoch.group(1)} local batches" in log
    for row in rows:
        assert began <= row["started_at"] <= row["ended_at"] <= ended
        assert row["ended_at"] - row["started_at"] == pytest.approx(row["total_s"], abs=0.05)
        assert row["train_s"] >= 0
    for row in own:
        assert set(row["metrics"]) >= {"val_loss", "val_accuracy"}
    assert all(r["train_s"] > 0 and "loss" in r["metrics"] for r in own[1:])
    assert len(other) > len(own)  # every 9 batches: more steps than one per epoch
