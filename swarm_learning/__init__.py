"""Learner (SL) node: the training-loop API and the sync protocol.

`SwarmCallback` is loaded on first use (module `__getattr__`), not here: it needs torch and
the chain client (web3), which `swarm_learning.merge`, `swarm_learning.weights` and the
weight-file checks do not, so those import without them (benchmarks, tools, tests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swarm_learning.callback import SwarmCallback

__all__ = ["SwarmCallback"]


def __getattr__(name: str) -> Any:
    if name == "SwarmCallback":
        from swarm_learning.callback import SwarmCallback

        return SwarmCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
