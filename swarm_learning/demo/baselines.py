"""The two accuracies a swarm result is judged against.

- *central*: one model trained on all the training data, as if the sites could pool it. This is
  the ceiling the swarm tries to reach without pooling anything.
- *local-only*: a model trained alone on one site's part. This is what a site gets without the
  swarm; on non-IID parts it is clearly worse, and the gap is the swarm's reason to exist.

Both use the same model, recipe and held-out test set as the swarm learners, so the three
figures differ only in what data the weights have seen.
"""

from __future__ import annotations

import numpy as np
import torch

from swarm_learning.demo.model import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LR,
    build_mlp,
    evaluate,
    train_epochs,
)


def baseline_accuracy(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    epochs: int,
    seed: int,
    device: str | torch.device,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
) -> float:
    """Test accuracy of one model trained alone on `(X_train, y_train)`: on all the data it is
    the central figure, on one site's part the local-only figure. Always evaluated on the
    shared held-out test set (all classes), the task the swarm is asked to solve."""
    model = build_mlp(seed)
    train_epochs(
        model,
        X_train,
        y_train,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
    )
    return evaluate(model, X_test, y_test, device)
