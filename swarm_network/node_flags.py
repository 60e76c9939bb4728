"""Command-line flags that every network node takes (`swarm sentinel`, `swarm sn`), written
once so that both commands read them alike and turn them into the same `NodeConfig` fields."""

from __future__ import annotations

import argparse
import os
from typing import Any

from swarm_network.defaults import KEEP_MODELS

JOIN_TOKEN_ENV = "SWARM_JOIN_TOKEN"


def add_join_token(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--join-token", default=os.environ.get(JOIN_TOKEN_ENV))


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
