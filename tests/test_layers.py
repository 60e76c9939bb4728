"""The packages import one way only, and their source files stay small.

Layers: `contracts` <- `swarm_network` <- `sentinel`, `swarm_learning`. `sentinel` and
`swarm_learning` never import each other, and nothing imports `tests` or `benchmarks`. Every
module of the four packages is parsed with `ast` (nothing is imported or run), and every
import is checked: at module level or inside a function, under `if TYPE_CHECKING:` too, relative
imports resolved against the module's package, and `importlib.import_module("...")` with a
literal name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("contracts", "swarm_network", "sentinel", "swarm_learning")
NEVER_IMPORTED = ("tests", "benchmarks")
# What each package may import of the project (itself included); any other project package
# or one of NEVER_IMPORTED is a wrong-way import.
ALLOWED: dict[str, frozenset[str]] = {
    "contracts": frozenset({"contracts"}),
    "swarm_network": frozenset({"contracts", "swarm_network"}),
    "sentinel": frozenset({"contracts", "swarm_network", "sentinel"}),
    "swarm_learning": frozenset({"contracts", "swarm_network", "swarm_learning"}),
}
PROJECT = frozenset(PACKAGES) | frozenset(NEVER_IMPORTED)

MAX_LINES = 400


@dataclass(frozen=True)
class Import:
    """One import statement of a module: where it is and the module it names."""

    path: str  # relative to the repository root
    line: int
    module: str  # absolute dotted name, relative imports resolved

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module}"


def source_files(package: str) -> list[Path]:
    """Every Python file of `package` (npm's node_modules, beside the contracts, excluded)."""
    return sorted(
        path
        for path in (ROOT / package).rglob("*.py")
        if "node_modules" not in path.relative_to(ROOT).parts
    )


def module_name(path: Path) -> str:
    """`swarm_network/chain/client.py` -> `swarm_network.chain.client` (`__init__` dropped)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, *, module: str, is_package: bool, path: str) -> Iterator[Import]:
    """Every module that `source` (the text of `module`) imports."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield Import(path, node.lineno, target)
            if not node.module:  # `from . import name`: each name may be a module
                for alias in node.names:
                    yield Import(path, node.lineno, f"{target}.{alias.name}")
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield Import(path, node.lineno, first.value)


def _is_import_module(func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module"
    return isinstance(func, ast.Name) and func.id in ("import_module", "__import__")


def wrong_way_imports(package: str, found: Iterator[Import]) -> list[str]:
    """The imports of `package` that go against the layers, each with the rule it breaks."""
    problems = []
    for imported in found:
        top = imported.module.split(".")[0]
        if top in PROJECT and top not in ALLOWED[package]:
            problems.append(f"{imported}: {package} may not import {top}")
    return problems


def package_imports(package: str) -> Iterator[Import]:
    for path in source_files(package):
        relative = str(path.relative_to(ROOT))
        yield from imports_of(
            path.read_text(encoding="utf-8"),
            module=module_name(path),
            is_package=path.name == "__init__.py",
            path=relative,
        )


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_go_one_way(package: str) -> None:
    assert source_files(package), f"no source files found for {package}"
    problems = wrong_way_imports(package, package_imports(package))
    assert not problems, "wrong-way imports:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "module", "is_package", "expected"),
    [
        ("import sentinel.cli", "swarm_network.cli.main", False, ["sentinel.cli"]),
        ("from swarm_learning import x", "swarm_network.a", False, ["swarm_learning"]),
        ("from ..chain import client", "sentinel.chain.core", False, ["sentinel.chain"]),
        ("from . import core", "sentinel.chain", True, ["sentinel.chain", "sentinel.chain.core"]),
        ("from .x import y", "swarm_network.rest.app", False, ["swarm_network.rest.x"]),
        (
            "def f():\n    import tests.anvil_node",
            "swarm_network.a",
            False,
            ["tests.anvil_node"],
        ),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import benchmarks.x",
            "sentinel.a",
            False,
            ["typing", "benchmarks.x"],
        ),
        ("importlib.import_module('sentinel.cli')", "swarm_learning.a", False, ["sentinel.cli"]),
    ],
)
def test_every_kind_of_import_is_seen(
    source: str, module: str, is_package: bool, expected: list[str]
) -> None:
    found = imports_of(source, module=module, is_package=is_package, path="x.py")
    assert [imported.module for imported in found] == expected


def test_a_wrong_way_import_is_named_with_its_file_and_line() -> None:
    found = imports_of(
        "import json\nfrom sentinel.host import run\nfrom swarm_network import errors\n",
        module="swarm_network.cli.main",
        is_package=False,
        path="swarm_network/cli/main.py",
    )
    assert wrong_way_imports("swarm_network", found) == [
        "swarm_network/cli/main.py:2 imports sentinel.host: swarm_network may not import sentinel"
    ]


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_source_files_stay_small() -> None:
    too_long = []
    for package in PACKAGES:
        for path in source_files(package):
            relative = path.relative_to(ROOT).as_posix()
            if line_count(path) > MAX_LINES:
                too_long.append(f"{relative}: {line_count(path)} lines")
    assert not too_long, f"over {MAX_LINES} lines:\n" + "\n".join(too_long)
