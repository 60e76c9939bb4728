"""`swarm status`: the swarm's nodes and recent steps as tables, for people."""

from __future__ import annotations

import json
from collections.abc import Sequence

from swarm_network.cli.common import get_json


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def short(value: str | None, n: int = 12) -> str | None:
    return value[:n] if value else value


def show_status(sn_url: str, *, steps: int, as_json: bool) -> int:
    training = get_json(f"{sn_url}/v1/training")
    nodes = get_json(f"{sn_url}/v1/nodes")
    recent = get_json(f"{sn_url}/v1/steps?limit={steps}")
    if as_json:
        print(json.dumps({"training": training, "nodes": nodes, "steps": recent}, indent=2))
        return 0
    state = training["state"]
    if state == "waiting_for_quorum":
        state += f" ({training['checked_in']} of {training['effective_quorum']})"
    print(
        f"training: {state}  step {training['current_step']}  min_peers {training['min_peers']}"
        f"  merge {training['merge_method'] or '-'}  learners {training['learners']}"
        f" ({training['finished_learners']} finished)  block {training['block_number']}\n"
    )
    if training["waiting_for"]:
        print("waiting for: " + ", ".join(training["waiting_for"]) + "\n")
    print(
        table(
            ["address", "role", "status", "last step", "file server"],
            [
                [n["address"], n["role"], n["status"], n["last_step"], n["file_url"]]
                for n in nodes["nodes"]
            ],
        )
    )
    print()
    print(
        table(
            ["step", "closed", "participants", "agreed hash", "conflicts"],
            [
                [
                    s["step"],
                    "yes" if s["closed"] else "no",
                    len(s["participants"]),
                    short(s["agreed_hash"]),
                    len(s["conflicting_hashes"]),
                ]
                for s in recent["steps"]
            ],
        )
    )
    return 0
