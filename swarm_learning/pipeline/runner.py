"""The task runtime: the first code that runs in a task's own process.

`python -m swarm_learning.pipeline.runner task.json` (started by the node, in the task's own
directory): applies the isolation the node asked for (`sandbox.enter`), binds `world` and
`local` to the files the node prepared, imports the module's entry file and runs its `Task`
subclass's `run()` or its `main()`, then lists what the task produced in `out/index.json` for
the node to verify and publish. A task that raises exits non-zero; the node then reports the
failure with the task's log.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from swarm_learning.pipeline import sandbox
from swarm_learning.pipeline.declare import Task
from swarm_learning.pipeline.world import local, world

log = logging.getLogger("swarm_learning.pipeline.runner")


def _module_name(entry: str) -> str:
    parts = entry.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _task_class(module: ModuleType) -> type[Task] | None:
    for _, value in inspect.getmembers(module, inspect.isclass):
        if issubclass(value, Task) and value is not Task and value.__module__ == module.__name__:
            return value
    return None


def run_entry(code_dir: Path, entry: str) -> None:
    sys.path.insert(0, str(code_dir))
    module = importlib.import_module(_module_name(entry))
    task_class = _task_class(module)
    if task_class is not None:
        task = task_class()
        task.world = world
        task.local = local
        task.run()
        return
    main = getattr(module, "main", None)
    if not callable(main):
        raise SystemExit(f"{entry} defines neither main() nor a Task subclass")
    main()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    spec: dict[str, Any] = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    sandbox.enter(spec["sandbox"])
    out_dir = Path(spec["out_dir"])
    outputs = world._bind(spec, out_dir)
    local._bind(spec["datasets"])
    log.info(
        "task %s of swarm %s, iteration %s, on node %s",
        spec["alias"],
        spec["pipeline"],
        spec["iteration"],
        spec["node_id"],
    )
    run_entry(Path(spec["code_dir"]), spec["entry"])
    outputs.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
