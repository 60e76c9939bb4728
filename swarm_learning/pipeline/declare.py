"""What a user writes to declare a pipeline: `Swarm`, `Module` and `Task` (SDK 0.5 shapes).

A `Swarm` subclass declares modules as attributes, sets globals, and chains the modules in
`execute()`. Calling a module there runs nothing: it records one node of the iteration's task
graph (`TaskCall`), whose arguments are the calls it depends on. The graph, the module files
and the globals are then validated and packaged by `package.py` at deploy time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from swarm_network.errors import InvalidPipeline

METHODS = ("all", "any")


def _check_maximum(maximum: int | float) -> int | float:
    if isinstance(maximum, bool) or not isinstance(maximum, (int, float)):
        raise InvalidPipeline(f"maximum must be an int or a float in (0, 1], not {maximum!r}")
    if isinstance(maximum, float) and not (0.0 < maximum <= 1.0 and math.isfinite(maximum)):
        raise InvalidPipeline(f"maximum as a fraction of nodes must be in (0, 1], not {maximum}")
    if isinstance(maximum, int) and maximum != -1 and maximum < 1:
        raise InvalidPipeline(f"maximum must be -1 (no cap) or at least 1, not {maximum}")
    return maximum


class _Schedulable:
    """Scheduling shared by `Module` and `Task`: how many nodes run it, and which."""

    module: Module
    method: str
    maximum: int | float
    fixed: bool
    alias: str
    agree: bool
    quorum: int | None

    def _set_scheduling(
        self,
        *,
        method: str,
        maximum: int | float,
        fixed: bool,
        alias: str | None,
        agree: bool,
        quorum: int | None,
    ) -> None:
        if method not in METHODS:
            raise InvalidPipeline(f"method must be 'all' or 'any', not {method!r}")
        if agree and method != "all":
            raise InvalidPipeline("agree=True needs method='all' (every instance computes it)")
        if quorum is not None and (isinstance(quorum, bool) or quorum < 1):
            raise InvalidPipeline(f"quorum must be a positive int, not {quorum!r}")
        self.method = method
        self.maximum = _check_maximum(maximum)
        self.fixed = bool(fixed)
        self.alias = alias or self.module.stem
        if not self.alias.isidentifier():
            raise InvalidPipeline(f"alias {self.alias!r} is not a valid name")
        self.agree = bool(agree)
        self.quorum = quorum

    def __call__(self, *depends_on: TaskCall | str | Sequence[TaskCall | str]) -> TaskCall:
        """Inside `execute()`: this task, after the tasks given (calls or aliases)."""
        deps: list[TaskCall | str] = []
        for item in depends_on:
            if isinstance(item, (TaskCall, str)):
                deps.append(item)
            elif isinstance(item, Sequence):
                deps.extend(item)
            else:
                raise InvalidPipeline(
                    f"{self.alias}(...) takes earlier tasks (or their aliases), not "
                    f"{type(item).__name__}"
                )
        return TaskCall(self, tuple(deps))


class Module(_Schedulable):
    """A task's code: a script file, or a package directory, that defines `main()` or a
    `Task` subclass with `run()`; the container image it wants; and its scheduling.

    `method="all"` runs on every eligible node, `"any"` on one; `maximum` caps the nodes (an
    int, a fraction of the nodes in (0, 1], or -1 for no cap); `fixed` keeps the same nodes
    every iteration; `datasets` are the node datasets it needs (a node without one of them is
    never chosen). Beyond the SDK: `agree=True` (with `method="all"`) makes the iteration go on
    with the result that a strict majority of the instances produced, and `quorum` is how many
    instances of an `all` task must report before the task may go on without the others.
    """

    def __init__(
        self,
        path: Path | str,
        image: str = "",
        *,
        maximum: int | float = -1,
        alias: str | None = None,
        method: str = "all",
        fixed: bool = False,
        name: str | None = None,
        datasets: Sequence[str] | None = None,
        agree: bool = False,
        quorum: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.image = str(image)
        self.name = name
        self.datasets = tuple(sorted(set(datasets or ())))
        for dataset in self.datasets:
            if not isinstance(dataset, str) or not dataset or "," in dataset:
                raise InvalidPipeline(f"dataset names must be non-empty strings: {dataset!r}")
        self.module = self
        self._set_scheduling(
            method=method, maximum=maximum, fixed=fixed, alias=alias, agree=agree, quorum=quorum
        )

    @property
    def stem(self) -> str:
        return self.path.stem if self.path.suffix == ".py" else self.path.name


class Task(_Schedulable):
    """Two shapes of the SDK share this name.

    In a swarm: `Task(module, method=..., maximum=..., fixed=..., alias=...)` schedules a
    module (the newer spelling of the scheduling arguments of `Module`).

    In a task's script: subclass it and write `run(self)`; the node's runtime creates it with
    no arguments and gives it `self.world` (globals, results, scheduling) and `self.local`
    (this node's datasets).
    """

    world: Any
    local: Any

    def __init__(
        self,
        module: Module | None = None,
        *,
        method: str | None = None,
        maximum: int | float | None = None,
        fixed: bool | None = None,
        alias: str | None = None,
        agree: bool | None = None,
        quorum: int | None = None,
    ) -> None:
        if module is None:
            return  # a task program, created by the runtime
        if not isinstance(module, Module):
            raise InvalidPipeline(f"Task(...) takes a Module, not {type(module).__name__}")
        self.module = module
        self._set_scheduling(
            method=module.method if method is None else method,
            maximum=module.maximum if maximum is None else maximum,
            fixed=module.fixed if fixed is None else fixed,
            alias=alias or module.alias,
            agree=module.agree if agree is None else agree,
            quorum=module.quorum if quorum is None else quorum,
        )

    def run(self) -> None:
        raise NotImplementedError("a Task subclass writes run()")


class TaskCall:
    """One node of the task graph, as recorded by calling a module in `execute()`."""

    def __init__(self, task: _Schedulable, deps: tuple[TaskCall | str, ...]) -> None:
        self.task = task
        self.deps = deps

    @property
    def alias(self) -> str:
        return self.task.alias


class Swarm:
    """Base class of a pipeline: declare modules in `__init__`, `set_global` what every task
    reads, and chain the modules in `execute()`, which returns the iteration's last task(s).

    Settings beyond the SDK, as attributes: `task_timeout_s` (how long a task may take before
    an `any` task passes to another node and an `all` task goes on with its quorum),
    `max_iterations` (0: until the scheduler stops the swarm), `quorum` (default for `all`
    tasks).
    """

    task_timeout_s: int = 120
    max_iterations: int = 0
    quorum: int = 1

    def __init__(self) -> None:
        self._globals: dict[str, bytes | dict[str, Any]] = {}

    def set_global(self, tag: str, value: bytes | dict[str, Any]) -> None:
        if not isinstance(tag, str) or not tag:
            raise InvalidPipeline(f"a global's tag must be a non-empty string, not {tag!r}")
        if isinstance(value, (bytes, bytearray, memoryview)):
            self.__dict__.setdefault("_globals", {})[tag] = bytes(value)
            return
        if not isinstance(value, dict):
            raise InvalidPipeline(
                f"global {tag!r} must be a dict or bytes, not {type(value).__name__}"
            )
        try:
            json.dumps(value, allow_nan=False, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise InvalidPipeline(f"global {tag!r} cannot be serialised as JSON: {exc}") from exc
        self.__dict__.setdefault("_globals", {})[tag] = value

    @property
    def globals(self) -> dict[str, bytes | dict[str, Any]]:
        return dict(self.__dict__.get("_globals", {}))

    def declared_tasks(self) -> dict[str, _Schedulable]:
        """Modules and Tasks declared as attributes, by alias."""
        found: dict[str, _Schedulable] = {}
        for value in vars(self).values():
            if isinstance(value, _Schedulable) and hasattr(value, "alias"):
                if value.alias in found and found[value.alias] is not value:
                    raise InvalidPipeline(f"two tasks share the alias {value.alias!r}")
                found[value.alias] = value
        return found

    def execute(self) -> TaskCall | Sequence[TaskCall]:
        raise NotImplementedError("a Swarm subclass writes execute()")
