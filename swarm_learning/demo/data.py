"""Data for the digits demo: a fixed train/test split and non-IID partitions of the train set.

Why non-IID: if every learner saw a uniform sample of the data, a learner alone would already do
about as well as the swarm and the demo would show nothing. Here each learner mostly sees "its
own" classes, so alone it does poorly on the shared test set, and merging weights with its peers
is what lifts it to (nearly) the accuracy of one model trained on all the data.

Why equal-sized partitions: learners sync every ``sync_frequency`` batches; with equal data and
equal batch size they run the same number of batches, so they all reach each sync step and the
final merge together instead of one learner finishing early and the others waiting on it.

Files are plain ``.npz`` with two arrays, ``X`` (float32) and ``y`` (int64), read with
``allow_pickle=False``: a partition file may come from somewhere else, and nothing from another
party is ever unpickled.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

log = logging.getLogger(__name__)

TRAIN_FILE = "train.npz"
TEST_FILE = "test.npz"

#: Pixel values in ``load_digits()`` are integers 0..16.
_PIXEL_MAX = 16.0

Arrays = tuple[np.ndarray, np.ndarray]


def load_split(
    seed: int = 0, test_fraction: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load the digits and split them into a stratified train set and held-out test set.

    The test set is shared by every learner and every baseline, so that local-only, swarm and
    central accuracies are measured on exactly the same samples and can be compared.

    Returns ``(X_train, y_train, X_test, y_test)``: features float32 in [0, 1], labels int64.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    digits = load_digits()
    X = (digits.data / _PIXEL_MAX).astype(np.float32)
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return X_train, y_train, X_test, y_test


def class_groups(classes: np.ndarray, n_parts: int) -> list[np.ndarray]:
    """Divide the sorted classes into ``n_parts`` contiguous groups, the larger ones first.

    10 classes over 3 parts give ``[0..3], [4..6], [7..9]``. Part ``i`` "owns" group ``i``.
    With more parts than classes (a demo of 16 learners on 10 digits), part ``i`` owns class
    ``i mod n_classes``: a few parts share their own class.
    """
    ordered = np.sort(classes)
    if n_parts > len(ordered):
        return [ordered[[i % len(ordered)]] for i in range(n_parts)]
    return list(np.array_split(ordered, n_parts))


def _spread(total: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` into ``n`` near-equal integer counts; random ones get the remainder."""
    counts = np.full(n, total // n, dtype=np.int64)
    counts[rng.permutation(n)[: total % n]] += 1
    return counts


def _demand(
    part_size: int,
    groups: list[np.ndarray],
    classes: np.ndarray,
    own_fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """How many samples of each class each part takes: an ``(n_parts, n_classes)`` matrix."""
    col = {int(c): i for i, c in enumerate(classes)}
    demand = np.zeros((len(groups), len(classes)), dtype=np.int64)
    for p, own in enumerate(groups):
        others = np.array([c for c in classes if c not in set(own.tolist())], dtype=np.int64)
        n_own = part_size if len(others) == 0 else round(own_fraction * part_size)
        for c, k in zip(own, _spread(n_own, len(own), rng), strict=True):
            demand[p, col[int(c)]] = k
        if len(others):
            for c, k in zip(others, _spread(part_size - n_own, len(others), rng), strict=True):
                demand[p, col[int(c)]] = k
    return demand


def non_iid_partitions(
    X: np.ndarray,
    y: np.ndarray,
    n_parts: int,
    *,
    seed: int,
    own_fraction: float = 0.8,
) -> list[Arrays]:
    """Split ``(X, y)`` into ``n_parts`` disjoint, equal-sized parts that mostly see own classes.

    The classes are divided into ``n_parts`` groups (see :func:`class_groups`). Part ``i`` takes
    ``own_fraction`` of its samples from group ``i``, evenly over that group's classes, and the
    rest evenly over all the other classes. The part size is the largest for which every class
    has enough samples to go round, so a few samples of the most demanded classes may be left
    unused: equal sizes matter more (see the module docstring) than using every last sample.

    Deterministic for a given ``seed``; no sample is in two parts; each part is shuffled.
    """
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    classes, available = np.unique(y, return_counts=True)
    if not 1 <= n_parts <= len(y):
        raise ValueError(f"n_parts must be in [1, {len(y)}], got {n_parts}")
    if not 0.0 < own_fraction <= 1.0:
        raise ValueError(f"own_fraction must be in (0, 1], got {own_fraction}")
    groups = class_groups(classes, n_parts)

    # Largest part size whose per-class demand fits what is available. The rng is re-seeded for
    # each candidate so that the chosen demand does not depend on how many sizes were tried.
    part_size = len(y) // n_parts
    while part_size > 0:
        demand = _demand(part_size, groups, classes, own_fraction, np.random.default_rng(seed))
        if np.all(demand.sum(axis=0) <= available):
            break
        part_size -= 1
    if part_size == 0:
        raise ValueError("not enough samples to build any partition")

    rng = np.random.default_rng([seed, 1])
    part_indices: list[list[np.ndarray]] = [[] for _ in range(n_parts)]
    for j, c in enumerate(classes):
        pool = rng.permutation(np.flatnonzero(y == c))
        start = 0
        for p in range(n_parts):
            k = int(demand[p, j])
            part_indices[p].append(pool[start : start + k])
            start += k

    parts: list[Arrays] = []
    for p, chunks in enumerate(part_indices):
        idx = rng.permutation(np.concatenate(chunks))
        parts.append((X[idx], y[idx]))
        log.debug("part %d: %d samples, own classes %s", p, len(idx), groups[p].tolist())
    log.info(
        "%d non-IID parts of %d samples each (%d of %d samples used, own_fraction=%.2f)",
        n_parts,
        part_size,
        part_size * n_parts,
        len(y),
        own_fraction,
    )
    return parts


def _write(path: Path, X: np.ndarray, y: np.ndarray) -> None:
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # np.savez appends ".npz" to names without it, so write through an open file to keep the
    # temporary name, then rename: a reader never sees a half-written file.
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        np.savez(f, X=np.asarray(X, dtype=np.float32), y=np.asarray(y, dtype=np.int64))
    tmp.replace(path)


def _read(path: Path) -> Arrays:
    with np.load(path, allow_pickle=False) as data:
        X = data["X"].astype(np.float32, copy=False)
        y = data["y"].astype(np.int64, copy=False)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"{path}: expected X (n, d) and y (n,), got {X.shape} and {y.shape}")
    return X, y


def write_partition(directory: Path, X: np.ndarray, y: np.ndarray) -> Path:
    """Write one learner's private training data to ``directory/train.npz``; return the path."""
    path = Path(directory) / TRAIN_FILE
    _write(path, X, y)
    return path


def read_partition(directory: Path) -> Arrays:
    """Read ``directory/train.npz`` as ``(X float32, y int64)``."""
    return _read(Path(directory) / TRAIN_FILE)


def write_test_set(directory: Path, X: np.ndarray, y: np.ndarray) -> Path:
    """Write the shared held-out test set to ``directory/test.npz``; return the path."""
    path = Path(directory) / TEST_FILE
    _write(path, X, y)
    return path


def read_test_set(directory: Path) -> Arrays:
    """Read ``directory/test.npz`` as ``(X float32, y int64)``."""
    return _read(Path(directory) / TEST_FILE)
