"""`swarm sl`: start the user's training program as a learner node.

The program is run unchanged; the node's settings reach `SwarmCallback` through environment
variables (see `swarm_learning.settings.ENV_NAMES`)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

from swarm_network.errors import ConfigError


def learner_environment(args: argparse.Namespace, program_name: str) -> dict[str, str]:
    node_dir = args.node_dir.resolve()
    env = dict(os.environ)
    env.update(
        {
            "SWARM_SN_URL": args.sn.rstrip("/"),
            "SWARM_NODE_DIR": str(node_dir),
            "SWARM_DATA_DIR": str((args.data_dir or node_dir / "data").resolve()),
            "SWARM_MODEL_DIR": str((args.model_dir or node_dir / "model").resolve()),
            "SWARM_FILE_HOST": args.file_host,
            "SWARM_FILE_PORT": str(args.file_port),
            "SWARM_PROGRAM_NAME": program_name,
            "SWARM_DEVICE": args.device,
        }
    )
    if args.advertise_host:
        env["SWARM_ADVERTISE_HOST"] = args.advertise_host
    if args.join_token:
        env["SWARM_JOIN_TOKEN"] = args.join_token
    return env


def run_program(args: argparse.Namespace) -> int:
    if not args.join_token:
        raise ConfigError("--join-token (or SWARM_JOIN_TOKEN) is required")
    program_args = list(args.program_args)
    if program_args[:1] == ["--"]:
        program_args = program_args[1:]
    if args.program is not None:
        if not args.program.is_file():
            raise ConfigError(f"program {args.program} does not exist")
        command = [sys.executable, str(args.program), *program_args]
        program_name = args.program.stem
    else:
        command = [sys.executable, "-m", args.module, *program_args]
        program_name = args.module.rsplit(".", 1)[-1]
    child = subprocess.Popen(command, env=learner_environment(args, program_name))

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    return child.wait()
