"""The merge methods, the weights codec and the weight-file checks import without torch, web3
or an HTTP library: tools and benchmarks can use them in a process that has none of those,
and a learner's merge does not depend on them. Checked in a fresh interpreter, because this
test process has long imported everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "web3", "aiohttp", "requests", "eth_account", "eth_tester")
ROOT = Path(__file__).resolve().parents[1]


def modules_after_import(statement: str) -> set[str]:
    """Top-level packages loaded by `statement` in a new interpreter."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return {name.split(".")[0] for name in json.loads(done.stdout.splitlines()[-1])}


@pytest.mark.parametrize(
    "statement",
    [
        "import swarm_learning.merge",
        "import swarm_learning.weights",
        "import swarm_learning.weight_file",
        "import swarm_learning.settings",
        "from swarm_learning.merge import choose_merge; choose_merge('krum', {'f': 1})",
    ],
)
def test_imports_without_torch_web3_or_http(statement: str) -> None:
    loaded = modules_after_import(statement)
    assert "swarm_learning" in loaded  # the statement did run
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_the_callback_is_still_one_attribute_away() -> None:
    loaded = modules_after_import("from swarm_learning import SwarmCallback")
    assert {"torch", "web3"} <= loaded
