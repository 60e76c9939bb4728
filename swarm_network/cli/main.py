"""The `swarm` command, assembled from its owners: each package registers its subcommands in
the entry-point group `swarm.commands` (pyproject.toml), as `register(subparsers)`. This module
only builds the parser from them, sets up logging, and is the one place where a `SwarmError`
becomes one clear line and a non-zero exit."""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import EntryPoint, entry_points

from swarm_network.cli.messages import error_line
from swarm_network.errors import SwarmError

COMMAND_GROUP = "swarm.commands"
DESCRIPTION = (
    "`swarm`: one console script for every role (sentinel, sn, sl, node), for watching "
    "(status, swarms), for pipelines (deploy, swarm, results) and for the demo swarm."
)
NOISY_LOGGERS = ("web3", "urllib3", "aiohttp.access", "eth", "asyncio")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def commands() -> dict[str, EntryPoint]:
    """Every registered subcommand by name, in name order."""
    found = entry_points(group=COMMAND_GROUP)
    return {ep.name: ep for ep in sorted(found, key=lambda ep: ep.name)}


def _named_command(argv: list[str], known: dict[str, EntryPoint]) -> str | None:
    """The subcommand on the command line, if it is a known one (the top level has no option
    that takes a value, so it is the first word that is not an option)."""
    word = next((arg for arg in argv if not arg.startswith("-")), None)
    return word if word in known else None


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser for `argv`. Only the subcommand it names is loaded (a node does not import
    the learner's torch, nor a learner the chain); help and usage errors load them all."""
    parser = argparse.ArgumentParser(prog="swarm", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    known = commands()
    named = _named_command(argv, known)
    for name, entry_point in known.items():
        if named is None or name == named:
            entry_point.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    setup_logging(args.verbose)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except (SwarmError, OSError) as exc:
        print(error_line(args.command, exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
