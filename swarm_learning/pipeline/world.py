"""What a task sees of the world while it runs: the swarm's globals, the results of the tasks
it depends on, this node's datasets, and the scheduler's two decisions.

Everything here is local files that the node prepared in the task's own directory (already
verified against the chain) and files the task writes for the node to publish: a task never
talks to the network, the chain or another task itself. `world` and `local` are bound by the
task runtime (`runner.py`) before the task's code runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from swarm_network.errors import InvalidRequest, SwarmError

Value = bytes | dict[str, Any] | list[Any]


class NotInTask(SwarmError):
    """`world` or `local` was used outside a running task."""


def encode_value(tag: str, value: Any) -> tuple[str, bytes]:
    """bytes stay bytes; JSON-able values (dicts, lists, numbers, text) become canonical JSON."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytes", bytes(value)
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(
            f"value for {tag!r} must be bytes or JSON-serialisable (use numpy_to_bytes for "
            f"arrays): {exc}"
        ) from exc
    return "json", text.encode()


def decode_value(kind: str, data: bytes) -> Value:
    return data if kind == "bytes" else json.loads(data)


class _Outputs:
    """What a task hands back to its node: values written under out/, listed in index.json."""

    def __init__(self, out_dir: Path) -> None:
        self.dir = out_dir
        self.results: dict[str, dict[str, Any]] = {}
        self.globals: dict[str, dict[str, Any]] = {}
        self.decision: dict[str, Any] = {"kind": "none"}

    def write(self, section: dict[str, dict[str, Any]], tag: str, value: Any) -> None:
        kind, data = encode_value(tag, value)
        name = f"{len(self.results) + len(self.globals)}.bin"
        (self.dir / name).write_bytes(data)
        section[tag] = {"file": name, "kind": kind, "size": len(data)}

    def save(self) -> None:
        doc = {"results": self.results, "globals": self.globals, "decision": self.decision}
        (self.dir / "index.json").write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")


class Globals:
    """`world.globals[tag]`: this iteration's version; assigning writes the next version."""

    def __init__(self, entries: dict[str, dict[str, Any]], outputs: _Outputs) -> None:
        self._entries = entries
        self._outputs = outputs
        self._cache: dict[str, Value] = {}

    def __getitem__(self, tag: str) -> Value:
        if tag not in self._cache:
            entry = self._entries.get(tag)
            if entry is None:
                raise KeyError(f"no global {tag!r} (known: {', '.join(sorted(self._entries))})")
            self._cache[tag] = decode_value(entry["kind"], Path(entry["path"]).read_bytes())
        return self._cache[tag]

    def __setitem__(self, tag: str, value: Any) -> None:
        self._outputs.write(self._outputs.globals, tag, value)
        self._cache[tag] = decode_value(*encode_value(tag, value))

    def __contains__(self, tag: object) -> bool:
        return tag in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def keys(self) -> list[str]:
        return sorted(self._entries)

    def get(self, tag: str, default: Any = None) -> Any:
        return self[tag] if tag in self._entries else default


class Results:
    """`world.results`: add this task's results; select those of the tasks it depends on."""

    def __init__(self, entries: dict[str, dict[str, dict[str, Any]]], outputs: _Outputs) -> None:
        self._entries = entries
        self._outputs = outputs

    def add(self, tag: str, value: Any) -> None:
        if not isinstance(tag, str) or not tag:
            raise InvalidRequest(f"a result's tag must be a non-empty string, not {tag!r}")
        self._outputs.write(self._outputs.results, tag, value)

    def select(self, tag: str) -> dict[str, Value]:
        """{node_id: value} of every verified result `tag` of the tasks this one depends on,
        in node order (a refused or missing result is simply not there)."""
        by_node = self._entries.get(tag, {})
        return {
            node: decode_value(entry["kind"], Path(entry["path"]).read_bytes())
            for node, entry in sorted(by_node.items())
        }


class World:
    def __init__(self) -> None:
        self._spec: dict[str, Any] | None = None

    def _bind(self, spec: dict[str, Any], out_dir: Path) -> _Outputs:
        outputs = _Outputs(out_dir)
        self._spec = spec
        self._outputs = outputs
        self._globals = Globals(spec["globals"], outputs)
        self._results = Results(spec["results"], outputs)
        return outputs

    def _bound(self) -> dict[str, Any]:
        if self._spec is None:
            raise NotInTask("world is only available inside a running task")
        return self._spec

    @property
    def globals(self) -> Globals:
        self._bound()
        return self._globals

    @property
    def results(self) -> Results:
        self._bound()
        return self._results

    @property
    def node_id(self) -> str:
        return str(self._bound()["node_id"])

    @property
    def swarm_id(self) -> int:
        return int(self._bound()["pipeline"])

    @property
    def current_iteration(self) -> int:
        return int(self._bound()["iteration"])

    @property
    def task_alias(self) -> str:
        return str(self._bound()["alias"])

    def schedule_next_iter(
        self, node_ids: list[str] | None = None, task_to_schedule_alias: str | None = None
    ) -> None:
        """Choose the nodes that run `task_to_schedule_alias` in the next iteration."""
        spec = self._bound()
        aliases = spec["aliases"]
        alias = task_to_schedule_alias or aliases[0]
        if alias not in aliases:
            raise InvalidRequest(f"unknown task alias {alias!r} (known: {', '.join(aliases)})")
        nodes = [str(n) for n in (node_ids or [])]
        self._outputs.decision = {"kind": "schedule", "task": alias, "nodes": nodes}

    def stop_swarm(self) -> None:
        """End the swarm once this iteration is done."""
        self._bound()
        self._outputs.decision = {"kind": "stop"}


class Local:
    """This node's datasets, by name: `get_binary_data("digits/train.npz")`, or the dataset
    itself when it is one file (`get_binary_data("digits")`)."""

    def __init__(self) -> None:
        self._datasets: dict[str, Path] | None = None

    def _bind(self, datasets: dict[str, str]) -> None:
        self._datasets = {name: Path(path) for name, path in datasets.items()}

    def _path(self, name: str) -> Path:
        if self._datasets is None:
            raise NotInTask("local is only available inside a running task")
        dataset, _, inner = name.partition("/")
        root = self._datasets.get(dataset)
        if root is None:
            known = ", ".join(sorted(self._datasets)) or "none"
            raise FileNotFoundError(f"this node has no dataset {dataset!r} (it has: {known})")
        path = (root / inner).resolve() if inner else root.resolve()
        if path != root.resolve() and root.resolve() not in path.parents:
            raise FileNotFoundError(f"{name!r} is outside dataset {dataset!r}")
        return path

    def exists(self, name: str) -> bool:
        try:
            return self._path(name).exists()
        except FileNotFoundError:
            return False

    def list_dir(self, name: str) -> list[str]:
        return sorted(p.name for p in self._path(name).iterdir())

    def get_binary_data(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def get_numpy_data(self, name: str) -> np.ndarray | dict[str, np.ndarray]:
        """A .npy file's array, or an .npz file's arrays by name (never unpickled)."""
        loaded = np.load(self._path(name), allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded:
            return {key: loaded[key] for key in loaded.files}


world = World()
local = Local()
