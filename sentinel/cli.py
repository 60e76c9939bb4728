"""`swarm sentinel`: start the first node (chain, contract, REST, files) and print how to
start the others. Registered in the `swarm.commands` entry-point group."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from swarm_network.defaults import CHAIN_ID, FILE_PORT, LOOPBACK, REST_PORT, RPC_PORT
from swarm_network.node_flags import (
    JOIN_TOKEN_ENV,
    JOIN_TOKEN_FILE_FLAG,
    add_join_token,
    add_keep_models,
    node_config_fields,
    read_join_token,
)

# The printed examples start more nodes on this machine: they need ports of their own (a
# learner's file port 0 takes any free one; every learner serves its own files).
EXAMPLE_PORT_OFFSET = 1000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sentinel", help="start the first node: chain, contracts, REST, files")
    p.add_argument("--data-dir", type=Path, default=Path("swarm-data/sentinel"))
    p.add_argument("--host", default=LOOPBACK, help="address to listen on")
    p.add_argument("--advertise-host", help="address other nodes use to reach this one")
    p.add_argument("--rpc-port", type=int, default=RPC_PORT)
    p.add_argument("--rest-port", type=int, default=REST_PORT)
    p.add_argument("--file-port", type=int, default=FILE_PORT)
    add_join_token(p)
    p.add_argument("--chain-id", type=int, default=CHAIN_ID, help="of the embedded chain")
    p.add_argument(
        "--chain-url",
        help="use this Ethereum JSON-RPC endpoint (anvil, geth, Besu...) instead of the "
        "embedded chain; the sentinel's key must hold funds there (see --key-file)",
    )
    p.add_argument("--key-file", type=Path, help="the sentinel's key (default: DATA_DIR/node.key)")
    add_keep_models(p)
    p.set_defaults(run=run_sentinel_command)


def run_sentinel_command(args: argparse.Namespace) -> int:
    from sentinel.host import TOKEN_FILE, SentinelConfig, run_sentinel

    given = read_join_token(args)
    config = SentinelConfig(
        **node_config_fields(args),
        rpc_port=args.rpc_port,
        join_token=given,
        chain_id=args.chain_id,
        chain_url=args.chain_url,
        key_file=args.key_file,
    )
    if given is not None and args.join_token_file is None:
        token_file = None  # from the environment: the other nodes take it from theirs
    else:
        token_file = args.join_token_file or args.data_dir / TOKEN_FILE

    def announce(info: dict[str, str]) -> None:
        # The token is a secret: shown on a terminal, but never written into a redirected
        # output (a service manager's log file), and never into a printed command.
        token = info["join_token"] if sys.stdout.isatty() else None
        print(_startup_text(info, token=token, token_file=token_file), flush=True)

    asyncio.run(run_sentinel(config, announce))
    return 0


def _startup_text(info: dict[str, str], *, token: str | None, token_file: Path | None) -> str:
    """What the operator needs to start the other nodes. The commands take the join token
    from a file or the environment: process arguments are visible to every user (ps)."""
    rest_port, file_port = REST_PORT + EXAMPLE_PORT_OFFSET, FILE_PORT + EXAMPLE_PORT_OFFSET
    if token_file is None:
        where = f"${JOIN_TOKEN_ENV} (as given to this sentinel)"
        flag = ""
        how = f"with {JOIN_TOKEN_ENV} set in their environment"
    else:
        where = f"in {token_file}"
        flag = f" {JOIN_TOKEN_FILE_FLAG} {token_file}"
        how = (
            f"with {JOIN_TOKEN_FILE_FLAG} (copy {token_file} to their machine, readable only by "
            f"their user) or with {JOIN_TOKEN_ENV} set in their environment"
        )
    return (
        "\nSentinel is up.\n"
        f"  chain JSON-RPC : {info['rpc_url']}\n"
        f"  REST API       : {info['rest_url']}\n"
        f"  file server    : {info['file_url']}\n"
        f"  contract       : {info['contract_address']}\n"
        f"  join token     : {token or where}\n\n"
        f"The other nodes take the join token {how}; never put it on a command line, where\n"
        "every user of the machine can read it.\n"
        "Start a network node:\n"
        f"  swarm sn --sentinel {info['rest_url']}{flag}"
        f" --rest-port {rest_port} --file-port {file_port}\n"
        "Start a learner:\n"
        f"  swarm sl --sn {info['rest_url']}{flag} --program train.py --file-port 0\n"
        "Watch:\n"
        f"  swarm status --sn {info['rest_url']}\n"
    )
