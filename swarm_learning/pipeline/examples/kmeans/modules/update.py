"""New centroids from every node's sums and counts (an empty cluster keeps its centroid)."""

import numpy as np

from swarm_learning.pipeline import world


def main() -> None:
    old = np.asarray(world.globals["centroids"]["centroids"], dtype=np.float64)
    stats = world.results.select("stats")
    sums = np.zeros_like(old)
    counts = np.zeros(len(old))
    for node_stats in stats.values():
        sums += np.asarray(node_stats["sums"], dtype=np.float64)
        counts += np.asarray(node_stats["counts"], dtype=np.float64)
    new = old.copy()
    filled = counts > 0
    new[filled] = sums[filled] / counts[filled, None]
    shift = float(np.abs(new - old).max())
    world.globals["centroids"] = {"centroids": new.tolist()}
    world.results.add(
        "centroids", {"centroids": new.tolist(), "shift": shift, "nodes": sorted(stats)}
    )
