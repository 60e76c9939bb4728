"""Command-line flags that every network node takes (`swarm sentinel`, `swarm sn`), written
once so that both commands read them alike and turn them into the same `NodeConfig` fields."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from swarm_network.defaults import KEEP_MODELS
from swarm_network.errors import ConfigError

JOIN_TOKEN_ENV = "SWARM_JOIN_TOKEN"
JOIN_TOKEN_FILE_FLAG = "--join-token-file"


def add_join_token(parser: argparse.ArgumentParser) -> None:
    """The join token comes from a file or the environment, never from the command line:
    any user of the machine can read a process's arguments (`ps`)."""
    parser.add_argument(
        JOIN_TOKEN_FILE_FLAG,
        type=Path,
        metavar="FILE",
        help=f"file holding the swarm's join token (default: ${JOIN_TOKEN_ENV})",
    )
    # Only to refuse it with a clear message: a token given here is visible to every user.
    parser.add_argument("--join-token", help=argparse.SUPPRESS)


def read_join_token(args: argparse.Namespace) -> str | None:
    """The token from --join-token-file, else from $SWARM_JOIN_TOKEN; None if neither."""
    if args.join_token is not None:
        raise ConfigError(
            "--join-token is not accepted: process arguments are visible to every user "
            f"(ps); put the token in a file and pass {JOIN_TOKEN_FILE_FLAG} FILE, "
            f"or set {JOIN_TOKEN_ENV}"
        )
    if args.join_token_file is not None:
        path: Path = args.join_token_file
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the join token from {path}: {exc}") from None
        if not token:
            raise ConfigError(f"the join token file {path} is empty")
        return token
    return os.environ.get(JOIN_TOKEN_ENV) or None


def require_join_token(args: argparse.Namespace) -> str:
    token = read_join_token(args)
    if token is None:
        raise ConfigError(
            f"a join token is required: {JOIN_TOKEN_FILE_FLAG} FILE or ${JOIN_TOKEN_ENV}"
        )
    return token


def add_keep_models(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-models",
        type=int,
        default=KEEP_MODELS,
        help="how many of the latest agreed models this node keeps copies of "
        f"(default {KEEP_MODELS})",
    )


def node_config_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The `NodeConfig` fields, from the flags of either node command."""
    return {
        "data_dir": args.data_dir,
        "host": args.host,
        "rest_port": args.rest_port,
        "file_port": args.file_port,
        "advertise_host": args.advertise_host,
        "keep_models": args.keep_models,
    }
