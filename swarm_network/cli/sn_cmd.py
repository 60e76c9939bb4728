"""`swarm sn`: start a network node that is admitted through the sentinel."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from swarm_network.defaults import FILE_PORT, LOOPBACK, REST_PORT
from swarm_network.node_flags import (
    add_join_token,
    add_keep_models,
    node_config_fields,
    require_join_token,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sn", help="start a network node (REST API over the chain, file server)")
    p.add_argument("--sentinel", required=True, help="the sentinel's REST URL")
    add_join_token(p)
    p.add_argument("--data-dir", type=Path, default=Path("swarm-data/sn"))
    p.add_argument("--host", default=LOOPBACK)
    p.add_argument("--advertise-host")
    p.add_argument("--rest-port", type=int, default=REST_PORT)
    p.add_argument("--file-port", type=int, default=FILE_PORT)
    add_keep_models(p)
    p.set_defaults(run=run_sn_command)


def run_sn_command(args: argparse.Namespace) -> int:
    from swarm_network.sn_node import SnConfig, run_sn

    config = SnConfig(
        **node_config_fields(args),
        sentinel_url=args.sentinel.rstrip("/"),
        join_token=require_join_token(args),
    )

    def announce(info: dict[str, str]) -> None:
        print(f"SN node {info['address']} is up: REST API at {info['rest_url']}", flush=True)

    asyncio.run(run_sn(config, announce))
    return 0
