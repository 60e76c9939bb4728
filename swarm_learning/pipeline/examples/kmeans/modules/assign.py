"""Assign this node's points to the nearest centroid; send per-cluster sums and counts."""

import numpy as np

from swarm_learning.pipeline import local, world


def main() -> None:
    centroids = np.asarray(world.globals["centroids"]["centroids"], dtype=np.float64)
    points = np.asarray(local.get_numpy_data("points/points.npy"), dtype=np.float64)
    nearest = ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    sums = [points[nearest == c].sum(axis=0).tolist() for c in range(len(centroids))]
    counts = [int((nearest == c).sum()) for c in range(len(centroids))]
    world.results.add("stats", {"sums": sums, "counts": counts})
