"""Learner (SL) node: the training-loop API and the sync protocol."""

from __future__ import annotations

from typing import Any

__all__ = ["SwarmCallback"]


def __getattr__(name: str) -> Any:
    # Imported on first use: a pipeline task imports `swarm_learning.pipeline` and must not
    # pay for torch and web3 (seconds) unless it uses them.
    if name == "SwarmCallback":
        from swarm_learning.callback import SwarmCallback

        return SwarmCallback
    raise AttributeError(f"module 'swarm_learning' has no attribute {name!r}")
