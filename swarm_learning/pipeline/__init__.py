"""Swarm pipelines: the declarative `Swarm` / `Module` API, run across the chain-coordinated
network (docs/ARCHITECTURE.md, "Pipelines").

In a swarm file: `Swarm`, `Module`, `Task`, `numpy_to_bytes`. Inside a task: subclass `Task`
and use `self.world` / `self.local`, or write `main()` and use `world` / `local` from here.
Importing this package stays light (no torch, no web3): every task process imports it.
"""

from swarm_learning.pipeline.codec import (
    bytes_to_numpy,
    bytes_to_torchmodel,
    numpy_to_bytes,
    torchmodel_to_bytes,
)
from swarm_learning.pipeline.declare import Module, Swarm, Task
from swarm_learning.pipeline.world import local, world

__all__ = [
    "Module",
    "Swarm",
    "Task",
    "bytes_to_numpy",
    "bytes_to_torchmodel",
    "local",
    "numpy_to_bytes",
    "torchmodel_to_bytes",
    "world",
]
