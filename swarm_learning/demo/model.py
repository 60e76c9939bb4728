"""The demo model (a small MLP on 8x8 digits), its training loop and its evaluation.

The training loop is an ordinary PyTorch loop with two hooks, ``on_batch_end`` (after every
optimizer step) and ``on_epoch_end``, which is exactly where a learner plugs in
``SwarmCallback.on_batch_end`` / ``on_epoch_end``. Everything is seeded, so a learner's run is
reproducible and two learners given the same seed start from the same weights even before the
first sync makes them equal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

N_FEATURES = 64
N_CLASSES = 10
HIDDEN = 64

#: Training defaults shared by the learner program and the baselines, so that the local-only,
#: central and swarm figures are all produced by the same recipe.
DEFAULT_EPOCHS = 60
DEFAULT_BATCH_SIZE = 32
DEFAULT_LR = 3e-3


def build_mlp(seed: int) -> nn.Module:
    """A 64 -> 64 -> 10 ReLU MLP whose initial weights depend only on ``seed``.

    The global torch RNG is forked, not reseeded, so building a model does not disturb the
    caller's random state.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Linear(N_FEATURES, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, N_CLASSES),
        )


def _as_tensors(
    X: np.ndarray, y: np.ndarray, device: str | torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.as_tensor(X, dtype=torch.float32, device=device),
        torch.as_tensor(y, dtype=torch.int64, device=device),
    )


@torch.no_grad()
def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray, device: str | torch.device) -> float:
    """Accuracy of ``model`` on ``(X, y)``, in [0, 1]. Leaves the model's train/eval mode as is."""
    if len(y) == 0:
        raise ValueError("cannot evaluate on an empty set")
    was_training = model.training
    model.eval()
    try:
        model.to(device)
        Xt, yt = _as_tensors(X, y, device)
        predicted = model(Xt).argmax(dim=1)
        return float((predicted == yt).float().mean().item())
    finally:
        model.train(was_training)


def train_epochs(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: str | torch.device,
    on_batch_end: Callable[[], None] | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
    on_loss: Callable[[float], None] | None = None,
) -> None:
    """Train ``model`` in place with Adam and cross-entropy for ``epochs`` passes over ``(X, y)``.

    Batches are drawn by a ``torch.Generator`` seeded with ``seed``, so the order is the same on
    every run. The last batch of an epoch may be smaller than ``batch_size``; it is kept so that
    every sample counts, and learners with equal-sized data still run equal numbers of batches.

    ``on_batch_end()`` runs after every optimizer step (after ``on_loss(batch_loss)``) and
    ``on_epoch_end(epoch)`` after every epoch (0-based). A swarm sync replaces the model's
    weights inside ``on_batch_end``; the Adam moments are kept across syncs on purpose (that is
    what a user's own loop would do too).
    """
    if epochs < 0 or batch_size < 1 or lr <= 0:
        raise ValueError(f"bad training settings: epochs={epochs} batch_size={batch_size} lr={lr}")
    if len(y) == 0:
        raise ValueError("cannot train on an empty set")
    model.to(device)
    model.train()
    Xt, yt = _as_tensors(X, y, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    n = len(yt)
    for epoch in range(epochs):
        order = torch.randperm(n, generator=generator).to(device)
        total_loss = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
            total_loss += float(loss.item()) * len(idx)
            if on_loss is not None:
                on_loss(float(loss.item()))
            if on_batch_end is not None:
                on_batch_end()
        log.debug("epoch %d: mean training loss %.4f", epoch, total_loss / n)
        if on_epoch_end is not None:
            on_epoch_end(epoch)


def n_batches(n_samples: int, batch_size: int) -> int:
    """Optimizer steps per epoch in :func:`train_epochs` (the last batch may be partial)."""
    return -(-n_samples // batch_size)
