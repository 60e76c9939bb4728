"""`swarm`: one console script for every role (sentinel, sn, sl), for watching (status) and for
the demo swarm."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from swarm_network.cli.common import setup_logging
from swarm_network.errors import SwarmError


def _add_keep_models(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--keep-models",
        type=int,
        default=5,
        help="how many of the latest agreed models this node keeps copies of (default 5)",
    )


def _add_sentinel(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sentinel", help="start the first node: chain, contracts, REST, files")
    p.add_argument("--data-dir", type=Path, default=Path("swarm-data/sentinel"))
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--advertise-host", help="address other nodes use to reach this one")
    p.add_argument("--rpc-port", type=int, default=30303)
    p.add_argument("--rest-port", type=int, default=30304)
    p.add_argument("--file-port", type=int, default=30305)
    p.add_argument("--join-token", default=os.environ.get("SWARM_JOIN_TOKEN"))
    p.add_argument("--chain-id", type=int, default=1337, help="of the embedded chain")
    p.add_argument(
        "--chain-url",
        help="use this Ethereum JSON-RPC endpoint (anvil, geth, Besu...) instead of the "
        "embedded chain; the sentinel's key must hold funds there (see --key-file)",
    )
    p.add_argument("--key-file", type=Path, help="the sentinel's key (default: DATA_DIR/node.key)")
    _add_keep_models(p)
    p.set_defaults(run=_run_sentinel)


def _run_sentinel(args: argparse.Namespace) -> int:
    from sentinel.host import SentinelConfig, run_sentinel

    config = SentinelConfig(
        data_dir=args.data_dir,
        host=args.host,
        rpc_port=args.rpc_port,
        rest_port=args.rest_port,
        file_port=args.file_port,
        advertise_host=args.advertise_host,
        join_token=args.join_token,
        chain_id=args.chain_id,
        keep_models=args.keep_models,
        chain_url=args.chain_url,
        key_file=args.key_file,
    )

    def announce(info: dict) -> None:
        # The token is a secret: shown on a terminal, but never written into a redirected
        # output (a service manager's log file); it is in the data dir for whoever may read it.
        if sys.stdout.isatty() or args.join_token:
            token = info["join_token"] if sys.stdout.isatty() else "<as given by --join-token>"
        else:
            token = "$(cat " + str(args.data_dir / "join-token") + ")"
        info = {**info, "join_token": token}
        print(
            "\nSentinel is up.\n"
            f"  chain JSON-RPC : {info['rpc_url']}\n"
            f"  REST API       : {info['rest_url']}\n"
            f"  file server    : {info['file_url']}\n"
            f"  contract       : {info['contract_address']}\n"
            f"  join token     : {info['join_token']}\n\n"
            "Start a network node:\n"
            f"  swarm sn --sentinel {info['rest_url']} --join-token {info['join_token']}"
            " --rest-port 31304 --file-port 31305\n"
            "Start a learner:\n"
            f"  swarm sl --sn {info['rest_url']} --join-token {info['join_token']}"
            " --program train.py\n"
            "Watch:\n"
            f"  swarm status --sn {info['rest_url']}\n",
            flush=True,
        )

    asyncio.run(run_sentinel(config, announce))
    return 0


def _add_sn(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sn", help="start a network node (REST API over the chain, file server)")
    p.add_argument("--sentinel", required=True, help="the sentinel's REST URL")
    p.add_argument("--join-token", default=os.environ.get("SWARM_JOIN_TOKEN"))
    p.add_argument("--data-dir", type=Path, default=Path("swarm-data/sn"))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--advertise-host")
    p.add_argument("--rest-port", type=int, default=30304)
    p.add_argument("--file-port", type=int, default=30305)
    _add_keep_models(p)
    p.set_defaults(run=_run_sn)


def _run_sn(args: argparse.Namespace) -> int:
    from swarm_network.sn_node import SnConfig, run_sn

    if not args.join_token:
        raise SwarmError("--join-token (or SWARM_JOIN_TOKEN) is required")
    config = SnConfig(
        sentinel_url=args.sentinel.rstrip("/"),
        join_token=args.join_token,
        data_dir=args.data_dir,
        host=args.host,
        rest_port=args.rest_port,
        file_port=args.file_port,
        advertise_host=args.advertise_host,
        keep_models=args.keep_models,
    )

    def announce(info: dict) -> None:
        print(f"SN node {info['address']} is up: REST API at {info['rest_url']}", flush=True)

    asyncio.run(run_sn(config, announce))
    return 0


def _add_sl(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sl",
        help="run a training program as a learner node",
        description="Starts PROGRAM (a Python file, or -m MODULE) with the node's settings in "
        "its environment; arguments after -- go to the program.",
    )
    p.add_argument("--sn", required=True, help="REST URL of the SN node to use")
    p.add_argument("--join-token", default=os.environ.get("SWARM_JOIN_TOKEN"))
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--program", type=Path, help="training script to run")
    target.add_argument("--module", help="training module to run (python -m MODULE)")
    p.add_argument("--node-dir", type=Path, default=Path("swarm-data/sl"))
    p.add_argument("--data-dir", type=Path, help="default: NODE_DIR/data")
    p.add_argument("--model-dir", type=Path, help="default: NODE_DIR/model")
    p.add_argument("--file-host", default="127.0.0.1")
    p.add_argument("--file-port", type=int, default=30305)
    p.add_argument("--advertise-host")
    p.add_argument("--device", default="cpu")
    p.add_argument("program_args", nargs=argparse.REMAINDER)
    p.set_defaults(run=_run_sl)


def _run_sl(args: argparse.Namespace) -> int:
    from swarm_network.cli.sl_cmd import run_program

    return run_program(args)


def _add_status(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="show the swarm's nodes and recent steps")
    p.add_argument("--sn", default="http://127.0.0.1:30304", help="REST URL of any SN node")
    p.add_argument("--steps", type=int, default=5, help="how many recent steps to show")
    p.add_argument("--json", action="store_true", help="print raw JSON")
    p.add_argument("--watch", action="store_true", help="redraw as things happen (Ctrl-C stops)")
    p.set_defaults(run=_run_status)


def _run_status(args: argparse.Namespace) -> int:
    from swarm_network.cli.status_cmd import show_status
    from swarm_network.cli.status_watch import watch_status

    if args.watch:
        return watch_status(args.sn.rstrip("/"), steps=args.steps)
    return show_status(args.sn.rstrip("/"), steps=args.steps, as_json=args.json)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run a whole swarm on this machine on the digits dataset")
    p.add_argument("--learners", type=int, default=3)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--min-peers", type=int, default=2)
    p.add_argument("--work-dir", type=Path, help="default: a temporary directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from swarm_network.cli.demo_cmd import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="swarm", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_sentinel, _add_sn, _add_sl, _add_status, _add_demo):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except (SwarmError, OSError) as exc:
        print(f"swarm {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
