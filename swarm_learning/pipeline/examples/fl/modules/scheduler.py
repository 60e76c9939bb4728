"""Scheduler: stop the swarm once the merged model reaches the validation accuracy wanted."""

import numpy as np

from swarm_learning.pipeline import Task, bytes_to_numpy

DEFAULT_THRESHOLD = 0.95


def accuracy(weights: list, x: np.ndarray, y: np.ndarray) -> float:
    w1, b1, w2, b2 = weights
    logits = np.maximum(x @ w1 + b1, 0) @ w2 + b2
    return float((logits.argmax(axis=1) == y).mean())


class Scheduler(Task):
    def run(self) -> None:
        merged = self.world.results.select("global_model_params")
        if not merged:
            raise RuntimeError("no merged model to validate")
        weights = bytes_to_numpy(next(iter(merged.values())))
        validation = self.local.get_numpy_data("digits/test.npz")
        acc = accuracy(weights, validation["X"], validation["y"])
        threshold = self.world.globals.get("stopping", {}).get("accuracy", DEFAULT_THRESHOLD)
        self.world.results.add(
            "validation", {"accuracy": acc, "iteration": self.world.current_iteration}
        )
        print(f"iteration {self.world.current_iteration}: validation accuracy {acc:.4f}")
        if acc >= threshold:
            self.world.stop_swarm()
