"""Solidity sources of the swarm and the artifacts (ABI + bytecode) compiled from them.

The artifacts are committed so that running a swarm needs no compiler; `contracts.compile`
rebuilds them and a test checks they are byte for byte what the sources give.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"
CONTRACT_NAMES = ("SwarmLearning", "SwarmPipeline")


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """ABI and bytecode of one compiled contract, read once per process."""
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no compiled artifact for {name!r} at {path}")
    return json.loads(path.read_text(encoding="utf-8"))
