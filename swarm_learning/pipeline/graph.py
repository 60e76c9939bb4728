"""The task graph a swarm's `execute()` records, checked and put in topological order.

Refused here, before anything reaches the chain: a task not declared on the swarm, a
dependency naming an alias nobody declared, and cycles (an alias called again after tasks
that depend on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from swarm_learning.pipeline.declare import Swarm, TaskCall, _Schedulable
from swarm_network.errors import InvalidPipeline


@dataclass(frozen=True)
class TaskGraph:
    order: tuple[str, ...]  # aliases, dependencies first
    deps: dict[str, tuple[str, ...]]
    sinks: tuple[str, ...]  # what execute() returned, and every task nobody depends on
    tasks: dict[str, _Schedulable]


def _returned_calls(returned: object) -> list[TaskCall]:
    items = [returned] if isinstance(returned, TaskCall) else returned
    if not isinstance(items, Sequence) or not items:
        raise InvalidPipeline("execute() must return the iteration's last task(s)")
    for item in items:
        if not isinstance(item, TaskCall):
            raise InvalidPipeline(
                f"execute() must return task calls such as self.scheduler(m), not "
                f"{type(item).__name__}"
            )
    return list(items)


def trace(swarm: Swarm) -> TaskGraph:
    declared = swarm.declared_tasks()
    if not declared:
        raise InvalidPipeline("the swarm declares no Module or Task attributes")
    returned = _returned_calls(swarm.execute())
    deps: dict[str, list[str]] = {}
    seen: list[str] = []  # first appearance, for a stable order

    def visit(call: TaskCall) -> None:
        alias = call.alias
        if declared.get(alias) is not call.task:
            raise InvalidPipeline(
                f"task {alias!r} is not declared on the swarm (unknown alias): assign its "
                "Module or Task to an attribute in __init__"
            )
        for dep in call.deps:
            dep_alias = dep if isinstance(dep, str) else dep.alias
            if dep_alias not in declared:
                raise InvalidPipeline(f"task {alias!r} depends on unknown alias {dep_alias!r}")
            if isinstance(dep, TaskCall):
                visit(dep)
            if dep_alias not in deps.setdefault(alias, []):
                deps[alias].append(dep_alias)
        deps.setdefault(alias, [])
        if alias not in seen:
            seen.append(alias)

    for call in returned:
        visit(call)
    for alias_deps in list(deps.values()):
        for dep in alias_deps:
            deps.setdefault(dep, [])
            if dep not in seen:
                seen.append(dep)
    order = _topological(seen, deps)
    depended_on = {dep for alias_deps in deps.values() for dep in alias_deps}
    sinks = [c.alias for c in returned]
    sinks += [a for a in order if a not in depended_on and a not in sinks]
    return TaskGraph(
        order=tuple(order),
        deps={a: tuple(deps[a]) for a in order},
        sinks=tuple(dict.fromkeys(sinks)),
        tasks={a: declared[a] for a in order},
    )


def _topological(seen: list[str], deps: dict[str, list[str]]) -> list[str]:
    """Kahn's order, ties by first appearance; what is left over lies on a cycle."""
    remaining = {a: set(deps[a]) for a in seen}
    order: list[str] = []
    while remaining:
        ready = [a for a in seen if a in remaining and not remaining[a]]
        if not ready:
            cycle = " -> ".join(sorted(remaining))
            raise InvalidPipeline(f"the task graph has a cycle through: {cycle}")
        alias = ready[0]
        order.append(alias)
        del remaining[alias]
        for left in remaining.values():
            left.discard(alias)
    return order
