"""The one user program both sides of `benchmarks/vs_flower.py` run: the same model, data
split, optimiser and local epoch, so the round times differ only by how each framework
moves and merges the weights.

An MLP 64 -> hidden -> 10 on the digits, its hidden width chosen for a parameter count
(17 k, 1 M, 10 M); 3 non-IID parts of the digits; SGD lr 0.05, momentum 0.9, batch 32, one
local epoch per round; the merge is the sample-weighted mean on both sides.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from swarm_learning.demo.data import load_split, non_iid_partitions

LR = 0.05
MOMENTUM = 0.9
BATCH = 32
SEED = 0
N_IN, N_OUT = 64, 10


def hidden_for(params: int) -> int:
    """The hidden width whose MLP has about `params` parameters: 64h + h + 10h + 10."""
    return max(1, round((params - N_OUT) / (N_IN + 1 + N_OUT)))


def build_model(params: int) -> nn.Module:
    """The same initial weights on every node and on both sides (seeded)."""
    hidden = hidden_for(params)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return nn.Sequential(nn.Linear(N_IN, hidden), nn.ReLU(), nn.Linear(hidden, N_OUT))


def load_part(index: int, parts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Learner `index`'s non-IID part of the train set."""
    X, y, _, _ = load_split(seed=SEED)
    X_part, y_part = non_iid_partitions(X, y, parts, seed=SEED)[index]
    return torch.from_numpy(X_part), torch.from_numpy(y_part)


def load_test() -> tuple[torch.Tensor, torch.Tensor]:
    _, _, X, y = load_split(seed=SEED)
    return torch.from_numpy(X), torch.from_numpy(y)


def batches_per_epoch(samples: int) -> int:
    return (samples + BATCH - 1) // BATCH


def optimiser(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


def train_batches(model: nn.Module, opt: torch.optim.Optimizer, X: torch.Tensor, y: torch.Tensor):  # type: ignore[no-untyped-def]
    """One local epoch, batch by batch (a generator, so a caller can hook after each batch)."""
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for start in range(0, len(X), BATCH):
        opt.zero_grad()
        loss = loss_fn(model(X[start : start + BATCH]), y[start : start + BATCH])
        loss.backward()
        opt.step()
        yield


def accuracy(model: nn.Module) -> float:
    X, y = load_test()
    model.eval()
    with torch.no_grad():
        return float((model(X).argmax(dim=1) == y).float().mean())


def weights_of(model: nn.Module) -> list[np.ndarray]:
    return [t.detach().cpu().numpy().copy() for t in model.state_dict().values()]


def load_weights(model: nn.Module, weights: list[np.ndarray]) -> None:
    keys = list(model.state_dict())
    model.load_state_dict(
        {k: torch.from_numpy(np.asarray(w)) for k, w in zip(keys, weights, strict=True)}
    )
