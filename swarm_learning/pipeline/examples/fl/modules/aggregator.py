"""Aggregator: the workers' models averaged by sample count, as next iteration's global.

Computed in float64 in node order, so every aggregator given the same models produces the
same bytes (what agreeing aggregators rely on)."""

import numpy as np

from swarm_learning.pipeline import bytes_to_numpy, numpy_to_bytes, world


def main() -> None:
    models = world.results.select("model_params")
    metrics = world.results.select("metrics")
    if not models:
        raise RuntimeError("no worker model to aggregate")
    total = sum(metrics[node]["samples"] for node in models)
    layers = None
    for node, blob in models.items():
        weights = bytes_to_numpy(blob)
        share = metrics[node]["samples"] / total
        scaled = [np.asarray(w, dtype=np.float64) * share for w in weights]
        layers = scaled if layers is None else [a + b for a, b in zip(layers, scaled, strict=True)]
    merged = numpy_to_bytes([layer.astype(np.float32) for layer in layers])
    world.globals["global_model_params"] = merged
    world.results.add("global_model_params", merged)
    world.results.add("contributors", {"nodes": sorted(models), "samples": total})
