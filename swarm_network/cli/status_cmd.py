"""`swarm status`: the swarm's nodes and recent steps as rich tables, for people."""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import urlencode

from rich.console import Group
from rich.text import Text

from swarm_network.defaults import DEFAULT_SN_URL
from swarm_network.http_json import get_json
from swarm_network.text_table import console, rich_table
from swarm_network.trainings import DEFAULT_TRAINING, training_query

HASH_SHOWN = 12  # hex digits of a hash in the steps table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="show the swarm's nodes and recent steps")
    p.add_argument("--sn", default=DEFAULT_SN_URL, help="REST URL of any SN node")
    p.add_argument("--steps", type=int, default=5, help="how many recent steps to show")
    p.add_argument("--json", action="store_true", help="print raw JSON")
    p.add_argument("--watch", action="store_true", help="redraw as things happen (Ctrl-C stops)")
    p.add_argument(
        "--training",
        default=DEFAULT_TRAINING,
        help="which of the swarm's trainings to show (all are listed on top)",
    )
    p.set_defaults(run=run_status_command)


def run_status_command(args: argparse.Namespace) -> int:
    if args.watch:
        from swarm_network.cli.status_watch import watch_status

        return watch_status(args.sn.rstrip("/"), steps=args.steps, training=args.training)
    return show_status(
        args.sn.rstrip("/"), steps=args.steps, as_json=args.json, training=args.training
    )


def training_url(url: str, training: str, **params: object) -> str:
    """`url` with its query: `params`, and the training (left out for the default one)."""
    query = {**params, **training_query(training)}
    return f"{url}?{urlencode(query)}" if query else url


def read_status(sn_url: str, steps: int, training: str = DEFAULT_TRAINING) -> dict[str, Any]:
    """The REST documents the status is drawn from: the swarm's trainings, and the chosen
    training's state, nodes and steps."""
    return {
        "trainings": get_json(f"{sn_url}/v1/trainings"),
        "selected": training,
        "training": get_json(training_url(f"{sn_url}/v1/training", training)),
        "nodes": get_json(training_url(f"{sn_url}/v1/nodes", training)),
        "steps": get_json(training_url(f"{sn_url}/v1/steps", training, limit=steps)),
    }


def show_status(sn_url: str, *, steps: int, as_json: bool, training: str = DEFAULT_TRAINING) -> int:
    status = read_status(sn_url, steps, training)
    if as_json:
        print(json.dumps(status, indent=2))
    else:
        console().print(status_view(status))
    return 0


def status_view(status: dict[str, Any]) -> Group:
    """The training's line, whom it waits for, and the nodes' and steps' tables."""
    training = status["training"]
    state = training["state"]
    if state == "waiting_for_quorum":
        state += f" ({training['checked_in']} of {training['effective_quorum']})"
    trainings = status["trainings"]["trainings"]
    parts: list[Any] = []
    if len(trainings) > 1:
        listed = ", ".join(
            f"{'*' if t['name'] == status['selected'] else ''}{t['name']} ({t['state']}, step "
            f"{t['current_step']}, {t['learners']} learners)"
            for t in trainings
        )
        parts.append(Text(f"trainings: {listed}  (* shown; --training NAME for another)\n"))
    named = "" if status["selected"] == DEFAULT_TRAINING else f" {status['selected']}"
    parts += [
        Text(
            f"training{named}: {state}  step {training['current_step']}  min_peers "
            f"{training['min_peers']}  merge {training['merge_method'] or '-'}  learners "
            f"{training['learners']} ({training['finished_learners']} finished)  block "
            f"{training['block_number']}\n"
        )
    ]
    if training["waiting_for"]:
        parts.append(Text("waiting for: " + ", ".join(training["waiting_for"]) + "\n"))
    parts.append(
        rich_table(
            ["address", "role", "status", "last step", "file server"],
            [
                [n["address"], n["role"], n["status"], n["last_step"], n["file_url"]]
                for n in status["nodes"]["nodes"]
            ],
        )
    )
    parts.append(Text(""))
    parts.append(
        rich_table(
            ["step", "closed", "participants", "agreed hash", "conflicts"],
            [
                [
                    s["step"],
                    "yes" if s["closed"] else "no",
                    len(s["participants"]),
                    s["agreed_hash"][:HASH_SHOWN] if s["agreed_hash"] else s["agreed_hash"],
                    len(s["conflicting_hashes"]),
                ]
                for s in status["steps"]["steps"]
            ],
        )
    )
    return Group(*parts)
