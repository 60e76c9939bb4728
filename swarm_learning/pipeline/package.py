"""Deploy-time validation and packaging of a swarm: content-addressed module archives, the
globals, and one manifest (JSON, canonical) that names them all by sha256.

The manifest's hash is what goes on chain; every node that runs a task fetches the manifest,
checks it against that hash, and checks every archive and global against the manifest, so the
code and data a task runs with are exactly what was deployed.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import io
import json
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarm_learning.pipeline.declare import Swarm, _Schedulable
from swarm_learning.pipeline.graph import TaskGraph, trace
from swarm_network.errors import InvalidPipeline

MANIFEST_FORMAT = 1
ENTRY_CANDIDATES = ("main.py", "__main__.py", "__init__.py")
SKIPPED_NAMES = ("__pycache__",)
MAX_ARCHIVE_BYTES = 64 << 20


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Package:
    manifest: dict[str, Any]
    manifest_bytes: bytes
    manifest_hash: str
    files: dict[str, bytes] = field(default_factory=dict)  # sha256 -> bytes, manifest included


def load_swarm_class(target: str) -> type[Swarm]:
    """`path/to/my_swarm.py:FLSwarm` -> the class, imported with its file's dir on sys.path
    (so that `from modules.worker.model import MLP` there works as it does for its author)."""
    path_text, _, class_name = target.rpartition(":")
    if not path_text or not class_name:
        raise InvalidPipeline(f"expected FILE.py:ClassName, got {target!r}")
    path = Path(path_text).resolve()
    if not path.is_file():
        raise InvalidPipeline(f"swarm file {path_text} does not exist")
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"_swarm_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise InvalidPipeline(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except InvalidPipeline:
        raise
    except Exception as exc:
        raise InvalidPipeline(f"importing {path_text} failed: {type(exc).__name__}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Swarm)):
        raise InvalidPipeline(f"{path_text} has no Swarm subclass named {class_name!r}")
    return cls


def _defines_entry(source: str, filename: str) -> bool:
    """A top-level `main` function, or a class with a `run` method."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise InvalidPipeline(f"{filename} does not parse: {exc}") from exc
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "main":
            return True
        if isinstance(node, ast.ClassDef) and any(
            isinstance(item, ast.FunctionDef) and item.name == "run" for item in node.body
        ):
            return True
    return False


def _resolve(path: Path, base_dir: Path) -> Path:
    for candidate in (path, base_dir / path) if not path.is_absolute() else (path,):
        if candidate.exists():
            return candidate.resolve()
    raise InvalidPipeline(f"module file {path} does not exist (looked in {base_dir} and here)")


def _entry(path: Path, alias: str) -> str:
    """The archive member that defines the task: the script, or a package's main file."""
    if path.is_file():
        if path.suffix != ".py":
            raise InvalidPipeline(f"module {alias!r}: {path} is not a .py script")
        if not _defines_entry(path.read_text(encoding="utf-8"), str(path)):
            raise InvalidPipeline(
                f"module {alias!r}: {path} defines neither main() nor a Task subclass with run()"
            )
        return path.name
    for name in ENTRY_CANDIDATES:
        candidate = path / name
        if candidate.is_file() and _defines_entry(candidate.read_text("utf-8"), str(candidate)):
            return f"{path.name}/{name}"
    raise InvalidPipeline(
        f"module {alias!r}: package {path} has no {', '.join(ENTRY_CANDIDATES)} defining "
        "main() or a Task subclass with run()"
    )


def archive_module(path: Path) -> bytes:
    """A tar of the script or package, byte for byte the same for the same files."""
    members: list[tuple[str, Path]] = []
    if path.is_file():
        members.append((path.name, path))
    else:
        for file in sorted(path.rglob("*")):
            relative = file.relative_to(path.parent)
            if any(part in SKIPPED_NAMES or part.startswith(".") for part in relative.parts):
                continue
            if file.is_file() and file.suffix != ".pyc":
                members.append((relative.as_posix(), file))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, file in members:
            data = file.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    if len(data) > MAX_ARCHIVE_BYTES:
        raise InvalidPipeline(f"module {path} is larger than {MAX_ARCHIVE_BYTES >> 20} MiB")
    return data


def _encode_global(tag: str, value: bytes | dict[str, Any]) -> tuple[str, bytes]:
    if isinstance(value, bytes):
        return "bytes", value
    try:
        return "json", canonical_json(value)
    except (TypeError, ValueError) as exc:
        raise InvalidPipeline(f"global {tag!r} cannot be serialised as JSON: {exc}") from exc


def _maximum_fields(task: _Schedulable) -> dict[str, int]:
    if isinstance(task.maximum, float):
        return {"max_count": 0, "max_fraction": max(1, round(task.maximum * 10_000))}
    return {"max_count": 0 if task.maximum == -1 else int(task.maximum), "max_fraction": 0}


def _check_settings(swarm: Swarm) -> tuple[int, int, int]:
    timeout, iterations, quorum = swarm.task_timeout_s, swarm.max_iterations, swarm.quorum
    for name, value, least in (
        ("task_timeout_s", timeout, 1),
        ("max_iterations", iterations, 0),
        ("quorum", quorum, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise InvalidPipeline(f"swarm setting {name} must be an int >= {least}, not {value!r}")
    return timeout, iterations, quorum


def build_package(swarm: Swarm, *, base_dir: Path, name: str) -> Package:
    """Validate the swarm and package everything it deploys."""
    graph: TaskGraph = trace(swarm)
    timeout, max_iterations, default_quorum = _check_settings(swarm)
    files: dict[str, bytes] = {}
    tasks: list[dict[str, Any]] = []
    for alias in graph.order:
        task = graph.tasks[alias]
        path = _resolve(task.module.path, base_dir)
        entry = _entry(path, alias)
        archive = archive_module(path)
        sha = sha256_hex(archive)
        files[sha] = archive
        tasks.append(
            {
                "alias": alias,
                "archive": sha,
                "entry": entry,
                "image": task.module.image,
                "method": task.method,
                "maximum": task.maximum,
                **_maximum_fields(task),
                "fixed": task.fixed,
                "agree": task.agree,
                "quorum": task.quorum or default_quorum,
                "datasets": list(task.module.datasets),
                "deps": list(graph.deps[alias]),
            }
        )
    globals_doc: dict[str, dict[str, Any]] = {}
    for tag, value in sorted(swarm.globals.items()):
        kind, data = _encode_global(tag, value)
        sha = sha256_hex(data)
        files[sha] = data
        globals_doc[tag] = {"sha256": sha, "kind": kind, "size": len(data)}
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": name,
        "tasks": tasks,
        "sinks": list(graph.sinks),
        "globals": globals_doc,
        "settings": {"task_timeout_s": timeout, "max_iterations": max_iterations},
    }
    manifest_bytes = canonical_json(manifest)
    manifest_hash = sha256_hex(manifest_bytes)
    files[manifest_hash] = manifest_bytes
    return Package(manifest, manifest_bytes, manifest_hash, files)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set n_workers=3` -> {"n_workers": 3}: JSON values, else the text as given."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.isidentifier():
            raise InvalidPipeline(f"--set takes NAME=VALUE, got {pair!r}")
        try:
            values[key] = json.loads(text)
        except ValueError:
            values[key] = text
    return values


def package_target(target: str, overrides: dict[str, Any]) -> Package:
    """Import `FILE.py:Class`, instantiate it with `overrides`, validate and package it."""
    cls = load_swarm_class(target)
    try:
        swarm = cls(**overrides)
    except InvalidPipeline:
        raise
    except TypeError as exc:
        raise InvalidPipeline(f"{cls.__name__}(...) refused the settings given: {exc}") from exc
    base_dir = Path(target.rpartition(":")[0]).resolve().parent
    return build_package(swarm, base_dir=base_dir, name=cls.__name__)


def chain_tasks(manifest: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The manifest's tasks as the contract's TaskInput tuples (see SwarmPipeline.sol)."""
    from swarm_network.pipeline.chain import dataset_id
    from swarm_network.pipeline.records import METHOD_IDS

    index = {task["alias"]: t for t, task in enumerate(manifest["tasks"])}
    return [
        (
            METHOD_IDS[task["method"]],
            task["agree"],
            task["fixed"],
            task["quorum"],
            task["max_count"],
            task["max_fraction"],
            sum(1 << index[dep] for dep in task["deps"]),
            [bytes.fromhex(dataset_id(name)) for name in task["datasets"]],
        )
        for task in manifest["tasks"]
    ]
