"""The pipeline API without a network: the document's swarm packages unchanged, every bad
deploy is refused with a message naming the problem, values round-trip byte for byte, and a
task run by the runtime sees its world and cannot see the node's directory."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from swarm_learning.pipeline import bytes_to_numpy, numpy_to_bytes, sandbox
from swarm_learning.pipeline.package import package_target
from swarm_network.errors import InvalidPipeline, InvalidRequest

EXAMPLES = Path(__file__).resolve().parents[1] / "swarm_learning" / "pipeline" / "examples"


def test_document_swarm_packages_with_only_its_imports_changed() -> None:
    package = package_target(f"{EXAMPLES / 'fl' / 'fl_swarm.py'}:FLSwarm", {"n_workers": 3})
    tasks = package.manifest["tasks"]
    assert [t["alias"] for t in tasks] == ["worker", "aggregator", "scheduler"]
    assert [t["deps"] for t in tasks] == [[], ["worker"], ["aggregator"]]
    assert tasks[0]["entry"] == "worker/main.py" and tasks[0]["max_count"] == 3
    assert tasks[1]["method"] == "any" and package.manifest["sinks"] == ["scheduler"]
    assert sorted(package.manifest["globals"]) == ["global_model_params", "hyperparameters"]
    again = package_target(f"{EXAMPLES / 'fl' / 'fl_swarm.py'}:FLSwarm", {"n_workers": 3})
    assert again.manifest_hash == package.manifest_hash  # content-addressed, reproducible


SWARM_HEAD = """
from pathlib import Path
from swarm_learning.pipeline import Module, Swarm

class S(Swarm):
    def __init__(self):
        super().__init__()
        self.a = Module(Path("a.py"), "img")
        self.b = Module(Path("b.py"), "img")
"""


def _write(tmp_path: Path, body: str, *, a: str = "def main():\n    pass\n") -> str:
    (tmp_path / "a.py").write_text(a)
    (tmp_path / "b.py").write_text("def main():\n    pass\n")
    (tmp_path / "s.py").write_text(SWARM_HEAD + body)
    return f"{tmp_path / 's.py'}:S"


@pytest.mark.parametrize(
    ("body", "a_source", "message"),
    [
        (
            "    def execute(self):\n        x = self.a()\n        y = self.b(x)\n"
            "        return self.a(y)\n",
            None,
            "cycle through: a -> b",
        ),
        (
            "    def execute(self):\n        return self.b('nobody')\n",
            None,
            "unknown alias 'nobody'",
        ),
        (
            "    def execute(self):\n        return self.b(self.a())\n",
            "x = 1\n",
            "defines neither main() nor a Task subclass with run()",
        ),
        (
            "        self.set_global('bad', {'model': object()})\n"
            "    def execute(self):\n        return self.b(self.a())\n",
            None,
            "global 'bad' cannot be serialised",
        ),
        (
            "        self.c = Module(Path('missing.py'), 'img')\n"
            "    def execute(self):\n        return self.c(self.a())\n",
            None,
            "module file missing.py does not exist",
        ),
    ],
    ids=["cycle", "unknown-alias", "no-main", "unserialisable-global", "missing-file"],
)
def test_bad_deploys_are_refused_naming_the_problem(
    tmp_path: Path, body: str, a_source: str | None, message: str
) -> None:
    target = _write(tmp_path, body, a=a_source or "def main():\n    pass\n")
    with pytest.raises(InvalidPipeline, match=message.replace("(", r"\(").replace(")", r"\)")):
        package_target(target, {})


def test_the_cli_refuses_a_bad_deploy_before_touching_the_network(tmp_path: Path) -> None:
    import subprocess

    target = _write(tmp_path, "    def execute(self):\n        return self.b('ghost')\n")
    done = subprocess.run(
        [sys.executable, "-m", "swarm_network.cli.main", "deploy", target,
         "--sn", "http://127.0.0.1:9"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "unknown alias 'ghost'" in done.stderr


def test_arrays_round_trip_byte_for_byte() -> None:
    weights = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int64)]
    data = numpy_to_bytes(weights)
    assert numpy_to_bytes(weights) == data  # same arrays, same bytes (agreement relies on it)
    back = bytes_to_numpy(data)
    assert isinstance(back, list) and all(
        np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(back, weights, strict=True)
    )
    assert set(bytes_to_numpy(numpy_to_bytes({"w": weights[0]}))) == {"w"}
    with pytest.raises(TypeError):
        numpy_to_bytes([np.array([object()])])
    with pytest.raises(InvalidRequest):
        bytes_to_numpy(data[:-3])


def _run_task(
    tmp_path: Path, source: str, isolation: str, limits: sandbox.Limits | None = None
) -> tuple[int, str, Path]:
    """Run a one-file task through the real runtime and sandbox, as a node would."""
    node_dir = tmp_path / "node"
    task_dir = node_dir / "tasks" / "t"
    for sub in ("code", "out", "inputs"):
        (task_dir / sub).mkdir(parents=True)
    (node_dir / "node.key").write_text("secret")
    (task_dir / "code" / "probe.py").write_text(source)
    (task_dir / "inputs" / "g").write_bytes(json.dumps({"x": 1}).encode())
    spec = {
        "pipeline": 0, "iteration": 0, "alias": "probe", "aliases": ["probe"],
        "node_id": "0x" + "1" * 40, "entry": "probe.py", "code_dir": str(task_dir / "code"),
        "out_dir": str(task_dir / "out"),
        "globals": {"g": {"path": str(task_dir / "inputs" / "g"), "kind": "json"}},
        "results": {}, "datasets": {},
        "sandbox": {"isolation": isolation, "task_dir": str(task_dir),
                    "hide": [str(node_dir)], "datasets": {}},
    }  # fmt: skip
    spec_path = task_dir / "task.json"
    spec_path.write_text(json.dumps(spec))
    log_path = tmp_path / "task.log"
    status = sandbox.launch(
        isolation=isolation,
        task_dir=task_dir,
        spec_path=spec_path,
        log_path=log_path,
        limits=limits or sandbox.Limits(wall_s=60, cpu_s=60, memory_mb=2048),
    )
    return status, log_path.read_text(), task_dir


PROBE = """
import os, socket
from pathlib import Path
from swarm_learning.pipeline import world

def main():
    key = Path(os.environ.get("HOME", ".")).parents[1] / "node.key"
    try:
        network = bool(socket.create_connection(("127.0.0.1", 9), timeout=1)) or "open"
    except OSError as exc:
        network = type(exc).__name__
    world.results.add("seen", {
        "env": sorted(os.environ), "key_visible": key.exists(), "global": world.globals["g"],
        "network": str(network),
    })
"""


@pytest.mark.skipif(
    sandbox.available_isolation() != sandbox.NAMESPACES, reason="needs root and unshare"
)
def test_a_namespaced_task_sees_its_world_but_not_the_node(tmp_path: Path) -> None:
    status, log, task_dir = _run_task(tmp_path, PROBE, sandbox.NAMESPACES)
    assert status == 0, log
    index = json.loads((task_dir / "out" / "index.json").read_text())
    seen = json.loads((task_dir / "out" / index["results"]["seen"]["file"]).read_text())
    assert seen["global"] == {"x": 1}
    assert seen["key_visible"] is False  # the node's dir is hidden from the task
    assert "SWARM_JOIN_TOKEN" not in seen["env"] and "PATH" in seen["env"]
    assert seen["network"] != "open"  # no network namespace route: not even loopback servers


def test_a_task_past_its_time_limit_is_killed(tmp_path: Path) -> None:
    sleeper = "import time\n\ndef main():\n    time.sleep(60)\n"
    limits = sandbox.Limits(wall_s=3, cpu_s=60, memory_mb=2048)
    status, _, task_dir = _run_task(tmp_path, sleeper, sandbox.PROCESS, limits)
    assert status == -signal.SIGKILL
    assert not (task_dir / "out" / "index.json").exists()


def test_a_task_environment_holds_none_of_the_node_settings(tmp_path: Path) -> None:
    env = sandbox.minimal_environment(tmp_path)
    assert set(env) >= {"PATH", "HOME", "PYTHONPATH"}
    assert not any(name.startswith("SWARM") for name in env)
