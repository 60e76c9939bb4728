"""The digits MLP (64 -> 64 -> 10, ReLU) in plain numpy: the same shape as the SwarmCallback
demo's torch model, trained with SGD + momentum on cross-entropy.

numpy, not torch, on purpose: every task is a fresh process, and importing torch costs about
two seconds of CPU per task, more than the training itself on this data.
"""

from __future__ import annotations

import numpy as np

N_FEATURES, HIDDEN, N_CLASSES = 64, 64, 10


class MLP:
    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        bound1, bound2 = 1 / np.sqrt(N_FEATURES), 1 / np.sqrt(HIDDEN)
        self.params = [
            rng.uniform(-bound1, bound1, (N_FEATURES, HIDDEN)).astype(np.float32),
            rng.uniform(-bound1, bound1, HIDDEN).astype(np.float32),
            rng.uniform(-bound2, bound2, (HIDDEN, N_CLASSES)).astype(np.float32),
            rng.uniform(-bound2, bound2, N_CLASSES).astype(np.float32),
        ]

    def get_weights(self) -> list[np.ndarray]:
        return [p.copy() for p in self.params]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        self.params = [np.asarray(w, dtype=np.float32).copy() for w in weights]

    def logits(self, x: np.ndarray) -> np.ndarray:
        w1, b1, w2, b2 = self.params
        return np.maximum(x @ w1 + b1, 0) @ w2 + b2

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.logits(x).argmax(axis=1) == y).mean())

    def train(self, x: np.ndarray, y: np.ndarray, hp: dict, seed: int) -> float:
        """`hp["epochs"]` passes of minibatch SGD with momentum; returns the mean loss."""
        if hp.get("loss", "CrossEntropyLoss") != "CrossEntropyLoss" or hp.get("optimizer") != "SGD":
            raise ValueError("this model trains with CrossEntropyLoss and SGD only")
        lr = hp["optimizer_params"]["lr"]
        momentum = hp["optimizer_params"].get("momentum", 0.0)
        velocity = [np.zeros_like(p) for p in self.params]
        rng = np.random.default_rng(seed)
        total = 0.0
        for _ in range(hp["epochs"]):
            order = rng.permutation(len(y))
            for start in range(0, len(y), hp["batch_size"]):
                idx = order[start : start + hp["batch_size"]]
                grads, loss = self._gradients(x[idx], y[idx])
                total += loss * len(idx)
                for p, v, g in zip(self.params, velocity, grads, strict=True):
                    v *= momentum
                    v += g
                    p -= lr * v
        return total / max(1, hp["epochs"] * len(y))

    def _gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], float]:
        w1, b1, w2, b2 = self.params
        hidden = np.maximum(x @ w1 + b1, 0)
        logits = hidden @ w2 + b2
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        loss = float(-np.log(probs[np.arange(len(y)), y] + 1e-12).mean())
        d_logits = probs
        d_logits[np.arange(len(y)), y] -= 1
        d_logits /= len(y)
        d_hidden = (d_logits @ w2.T) * (hidden > 0)
        grads = [x.T @ d_hidden, d_hidden.sum(0), hidden.T @ d_logits, d_logits.sum(0)]
        return [g.astype(np.float32) for g in grads], loss
