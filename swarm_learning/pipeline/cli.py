"""`swarm deploy`, `swarm swarms`, `swarm swarm show|stop|logs`, `swarm results`, `swarm node`:
the pipeline commands, registered into the `swarm` command by `register(subparsers)`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from swarm_network.defaults import DEFAULT_SN_URL
from swarm_network.errors import ConfigError, SwarmError

DEFAULT_CLIENT_KEY = Path("swarm-data/client/node.key")
FOLLOW_POLL_S = 1.0


def _sn(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sn", default=DEFAULT_SN_URL, help="REST URL of any SN node")


def _identity(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key-file", type=Path, default=DEFAULT_CLIENT_KEY, help="your key")
    p.add_argument("--join-token", default=os.environ.get("SWARM_JOIN_TOKEN"))


def register_deploy(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("deploy", help="validate, package and deploy a swarm (pipeline)")
    p.add_argument("target", help="FILE.py:SwarmClass")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="argument for the swarm class (JSON value, else text)")  # fmt: skip
    _sn(p)
    _identity(p)
    p.set_defaults(run=_deploy)


def register_swarms(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("swarms", help="list the deployed swarms and their status")
    _sn(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_swarms)


def register_swarm(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("swarm", help="show, stop or read the logs of one swarm")
    actions = p.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="graph, iterations, tasks per node, result tags")
    show.add_argument("swarm_id", type=int)
    show.add_argument("--json", action="store_true")
    _sn(show)
    show.set_defaults(run=_show)
    stop = actions.add_parser("stop", help="stop a swarm (its owner only)")
    stop.add_argument("swarm_id", type=int)
    _sn(stop)
    _identity(stop)
    stop.set_defaults(run=_stop)
    logs = actions.add_parser("logs", help="the task logs recorded on chain")
    logs.add_argument("swarm_id", type=int)
    logs.add_argument("--follow", action="store_true", help="keep printing until it ends")
    _sn(logs)
    logs.set_defaults(run=_logs)


def register_results(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("results", help="download a result of a swarm (verified)")
    p.add_argument("swarm_id", type=int)
    p.add_argument("tag")
    p.add_argument("-o", "--output-dir", type=Path, default=Path("."))
    p.add_argument("--iteration", type=int, help="default: the latest that has TAG")
    _sn(p)
    p.set_defaults(run=_results)


def register_node(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("node", help="enrol and run the tasks of deployed swarms")
    _sn(p)
    p.add_argument("--join-token", default=os.environ.get("SWARM_JOIN_TOKEN"))
    p.add_argument("--dataset", action="append", default=[], metavar="NAME=PATH",
                   help="a dataset this node offers (repeatable)")  # fmt: skip
    p.add_argument("--node-dir", type=Path, default=Path("swarm-data/node"))
    p.add_argument("--file-host", default="127.0.0.1")
    p.add_argument("--file-port", type=int, default=0, help="0: any free port")
    p.add_argument("--advertise-host")
    p.add_argument("--isolation", default="auto", choices=["auto", "process", "namespaces"])
    p.add_argument("--max-tasks", type=int, default=2, help="tasks run at once")
    p.add_argument("--task-memory-mb", type=int, default=4096)
    p.set_defaults(run=_node)


def _deploy(args: argparse.Namespace) -> int:
    from swarm_learning.pipeline.client import SwarmClient
    from swarm_learning.pipeline.package import package_target, parse_overrides

    package = package_target(args.target, parse_overrides(args.set))
    client = SwarmClient(sn_url=args.sn, key_file=args.key_file, join_token=args.join_token)
    pipeline_id = client.deploy(package)
    tasks = " -> ".join(t["alias"] for t in package.manifest["tasks"])
    print(f"deployed swarm {pipeline_id}: {package.manifest['name']} ({tasks})", flush=True)
    print(pipeline_id, flush=True)
    return 0


def _swarms(args: argparse.Namespace) -> int:
    from swarm_learning.pipeline.client import get_doc

    doc = get_doc(args.sn.rstrip("/"), "/v1/swarms")
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{'id':>4}  {'name':<20} {'status':<22} owner")
    for swarm in doc["swarms"]:
        status = swarm["status"]
        if status == "running":
            status = f"running (iteration {swarm['iteration'] if swarm['iteration'] is not None else swarm['iterations'] - 1})"  # noqa: E501
        print(f"{swarm['id']:>4}  {swarm['name']:<20} {status:<22} {swarm['owner']}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from swarm_learning.pipeline.client import get_doc

    doc = get_doc(args.sn.rstrip("/"), f"/v1/swarms/{args.swarm_id}")
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"swarm {doc['id']} {doc['name']}: {doc['status']}, {doc['iterations']} iteration(s)")
    for task in doc["graph"]:
        after = f" after {', '.join(task['depends_on'])}" if task["depends_on"] else ""
        print(f"  task {task['alias']}: method {task['method']}{after}")
    for it in doc["iterations"][-10:]:
        decision = it["decision"]
        who = f" by {it['decided_by']}" if it["decided_by"] else ""
        print(f"  iteration {it['iteration']}: decision {decision}{who}")
        for task in it["tasks"]:
            nodes = ", ".join(
                f"{node[:10]}[{','.join(r.get('tags') or [])}]"
                for node, r in task["results"].items()
            )
            print(f"    {task['alias']}: {'done' if task['done'] else 'open'}; {nodes or '-'}")
    for refusal in doc["refused_results"]:
        print(f"  refused: {refusal}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from swarm_learning.pipeline.client import SwarmClient

    client = SwarmClient(sn_url=args.sn, key_file=args.key_file, join_token=args.join_token)
    client.stop(args.swarm_id)
    print(f"swarm {args.swarm_id} stopped")
    return 0


def _print_logs(entries: list[dict[str, Any]], seen: set[tuple[Any, ...]]) -> None:
    for entry in entries:
        key = (entry["iteration"], entry["task"], entry["node"], entry["failed"])
        if key in seen:
            continue
        seen.add(key)
        state = "FAILED" if entry["failed"] else "done"
        print(f"=== iteration {entry['iteration']} {entry['task']} on {entry['node']} ({state})")
        print((entry["text"] or "").rstrip(), flush=True)


def _logs(args: argparse.Namespace) -> int:
    from swarm_learning.pipeline.client import get_doc

    seen: set[tuple[Any, ...]] = set()
    since = 0
    while True:
        doc = get_doc(args.sn.rstrip("/"), f"/v1/swarms/{args.swarm_id}/logs",
                      since_iteration=since)  # fmt: skip
        _print_logs(doc["logs"], seen)
        if not args.follow or doc["status"] not in ("pending", "running"):
            return 0
        if doc["logs"]:
            since = max(e["iteration"] for e in doc["logs"])
        time.sleep(FOLLOW_POLL_S)


def _results(args: argparse.Namespace) -> int:
    from swarm_learning.pipeline.client import get_doc
    from swarm_network.files.fetch import fetch_verified
    from swarm_network.files.store import FileStore

    params = {} if args.iteration is None else {"iteration": args.iteration}
    doc = get_doc(args.sn.rstrip("/"), f"/v1/swarms/{args.swarm_id}/results/{args.tag}",
                  **params)  # fmt: skip
    if not doc["results"]:
        raise SwarmError(f"swarm {args.swarm_id} has no result {args.tag!r}")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    store = FileStore(args.output_dir / ".swarm-files")
    for entry in doc["results"]:
        path = fetch_verified(entry["file_url"], entry["sha256"], store, timeout_s=30)
        suffix = ".json" if entry["kind"] == "json" else ".bin"
        name = f"{args.tag}-it{doc['iteration']}-{entry['task']}-{entry['node']}{suffix}"
        (args.output_dir / name).write_bytes(path.read_bytes())
        print(f"{args.output_dir / name} ({entry['size']} bytes, sha256 {entry['sha256']})")
    return 0


def _parse_datasets(pairs: list[str]) -> dict[str, Path]:
    datasets: dict[str, Path] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path or "/" in name:
            raise ConfigError(f"--dataset takes NAME=PATH, got {pair!r}")
        datasets[name] = Path(path)
    return datasets


def _node(args: argparse.Namespace) -> int:
    from swarm_learning.pipeline.agent import run_node
    from swarm_learning.pipeline.enrolment import NodeSettings

    if not args.join_token:
        raise ConfigError("--join-token (or SWARM_JOIN_TOKEN) is required")
    settings = NodeSettings(
        sn_url=args.sn.rstrip("/"),
        join_token=args.join_token,
        node_dir=args.node_dir,
        datasets=_parse_datasets(args.dataset),
        file_host=args.file_host,
        file_port=args.file_port,
        advertise_host=args.advertise_host,
        isolation=args.isolation,
        max_tasks=args.max_tasks,
        task_memory_mb=args.task_memory_mb,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_node(settings, stop)
    return 0
