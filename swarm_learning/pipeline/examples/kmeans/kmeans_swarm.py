"""Federated k-means: not model averaging, to show that the API is general.

Every node with a `points` dataset assigns its points to the current centroids and sends only
per-cluster sums and counts; one node turns them into new centroids (the next iteration's
global); the scheduler stops once the centroids move less than `tolerance`, and otherwise
schedules the next assignment on the nodes that contributed.
"""

from pathlib import Path

from swarm_learning.pipeline import Module, Swarm, Task


class KMeansSwarm(Swarm):
    max_iterations = 20
    task_timeout_s = 60

    def __init__(self, k: int = 3, tolerance: float = 1e-3, dim: int = 2, seed: int = 0):
        super().__init__()
        assign = Module(Path("modules/assign.py"), "python:3.11", datasets=["points"])
        self.assign = Task(assign, method="all", alias="assign")
        self.update = Task(Module(Path("modules/update.py"), "python:3.11"), method="any")
        self.scheduler = Module(Path("modules/scheduler.py"), "python:3.11", maximum=1)
        self.set_global("centroids", {"centroids": _initial(k, dim, seed)})
        self.set_global("settings", {"tolerance": tolerance})

    def execute(self):
        stats = self.assign()
        centroids = self.update(stats)
        return self.scheduler(centroids)


def _initial(k: int, dim: int, seed: int) -> list[list[float]]:
    """Deterministic starting centroids spread over [-1, 1]^dim (no data needed to deploy)."""
    import random

    rng = random.Random(seed)
    return [[rng.uniform(-1.0, 1.0) for _ in range(dim)] for _ in range(k)]
