"""`swarm sl`: start the user's training program as a learner node.

The program is run unchanged; the node's settings reach `SwarmCallback` through environment
variables, named in one place: `swarm_learning.settings.ENV_NAMES`."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from swarm_learning.settings import ENV_NAMES
from swarm_network.defaults import FILE_PORT, LOOPBACK
from swarm_network.errors import ConfigError
from swarm_network.node_flags import add_join_token, require_join_token

#: Runs the program in the child, turning a SwarmError into one line (no traceback).
PROGRAM_RUNNER = "swarm_learning.cli.program_runner"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sl",
        help="run a training program as a learner node",
        description="Starts PROGRAM (a Python file, or -m MODULE) with the node's settings in "
        "its environment; arguments after -- go to the program.",
    )
    p.add_argument("--sn", required=True, help="REST URL of the SN node to use")
    add_join_token(p)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--program", type=Path, help="training script to run")
    target.add_argument("--module", help="training module to run (python -m MODULE)")
    p.add_argument("--node-dir", type=Path, default=Path("swarm-data/sl"))
    p.add_argument("--data-dir", type=Path, help="default: NODE_DIR/data")
    p.add_argument("--model-dir", type=Path, help="default: NODE_DIR/model")
    p.add_argument("--file-host", default=LOOPBACK)
    p.add_argument("--file-port", type=int, default=FILE_PORT)
    p.add_argument("--advertise-host")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--training",
        help="which training of the swarm to join (default: 'default'; a program's own "
        "trainingContract wins)",
    )
    p.add_argument("program_args", nargs=argparse.REMAINDER)
    p.set_defaults(run=run_program)


def learner_environment(
    args: argparse.Namespace, program_name: str, join_token: str
) -> dict[str, str]:
    """The program's environment: the node's settings, the join token among them (an
    environment is readable only by its user, unlike process arguments)."""
    node_dir = args.node_dir.resolve()
    settings = {
        "sn_url": args.sn.rstrip("/"),
        "node_dir": str(node_dir),
        "data_dir": str((args.data_dir or node_dir / "data").resolve()),
        "model_dir": str((args.model_dir or node_dir / "model").resolve()),
        "file_host": args.file_host,
        "file_port": str(args.file_port),
        "program_name": program_name,
        "device": args.device,
        "join_token": join_token,
    }
    if args.advertise_host:
        settings["advertise_host"] = args.advertise_host
    if args.training:
        settings["training_contract"] = args.training
    return {**os.environ, **{ENV_NAMES[key]: value for key, value in settings.items()}}


def run_program(args: argparse.Namespace) -> int:
    join_token = require_join_token(args)
    program_args = list(args.program_args)
    if program_args[:1] == ["--"]:
        program_args = program_args[1:]
    if args.program is not None:
        if not args.program.is_file():
            raise ConfigError(f"program {args.program} does not exist")
        target = ["--program", str(args.program)]
        program_name = args.program.stem
    else:
        target = ["--module", args.module]
        program_name = args.module.rsplit(".", 1)[-1]
    command = [sys.executable, "-m", PROGRAM_RUNNER, *target, *program_args]
    child = subprocess.Popen(command, env=learner_environment(args, program_name, join_token))

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    return child.wait()
