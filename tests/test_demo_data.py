"""Tests of the digits demo: its data split, non-IID partitions, files, baselines and program.

The baseline tests check the two facts the demo rests on: the model can learn the task (central
accuracy is far above chance) and a site alone cannot (local-only accuracy on a non-IID part is
clearly below central), so that the swarm has a gap to close.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from swarm_learning.demo import train_digits
from swarm_learning.demo.baselines import baseline_accuracy
from swarm_learning.demo.data import (
    class_groups,
    load_split,
    non_iid_partitions,
    read_partition,
    read_test_set,
    write_partition,
    write_test_set,
)
from swarm_learning.demo.model import build_mlp

N_PARTS = 3


@pytest.fixture(scope="module")
def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return load_split(seed=0)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Train on one thread: the model is tiny and threads fighting over busy cores are slow."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _ids_partitions(y: np.ndarray, seed: int, **kwargs: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """Partition row numbers instead of pixels, so that sample identity is exact."""
    ids = np.arange(len(y)).reshape(-1, 1)
    return non_iid_partitions(ids, y, N_PARTS, seed=seed, **kwargs)


def test_load_split_types_range_and_determinism(split: tuple[np.ndarray, ...]) -> None:
    X_train, y_train, X_test, y_test = split
    assert X_train.shape == (1437, 64) and X_test.shape == (360, 64)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    assert X_train.min() >= 0.0 and X_train.max() <= 1.0 and X_train.max() == 1.0
    again = load_split(seed=0)
    for a, b in zip(split, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(load_split(seed=1)[3], y_test)


def test_test_set_is_stratified(split: tuple[np.ndarray, ...]) -> None:
    _, y_train, _, y_test = split
    y_all = np.concatenate([y_train, y_test])
    expected = np.bincount(y_all) * len(y_test) / len(y_all)
    # Stratification rounds each class's share: at most one sample off per class.
    assert np.all(np.abs(np.bincount(y_test, minlength=10) - expected) <= 1.0)


def test_partitions_are_disjoint_equal_sized_and_about_a_third(
    split: tuple[np.ndarray, ...],
) -> None:
    _, y_train, _, _ = split
    parts = _ids_partitions(y_train, seed=0)
    sizes = {len(y) for _, y in parts}
    assert len(sizes) == 1, f"parts differ in size: {[len(y) for _, y in parts]}"
    size = sizes.pop()
    assert size >= 0.85 * len(y_train) / N_PARTS
    ids = np.concatenate([X[:, 0] for X, _ in parts])
    assert len(np.unique(ids)) == len(ids), "a sample is in two parts"
    for X, y in parts:
        np.testing.assert_array_equal(y_train[X[:, 0]], y)  # rows keep their labels


def test_partitions_are_deterministic_for_a_seed(split: tuple[np.ndarray, ...]) -> None:
    X_train, y_train, _, _ = split
    first = non_iid_partitions(X_train, y_train, N_PARTS, seed=7)
    second = non_iid_partitions(X_train, y_train, N_PARTS, seed=7)
    for (Xa, ya), (Xb, yb) in zip(first, second, strict=True):
        np.testing.assert_array_equal(Xa, Xb)
        np.testing.assert_array_equal(ya, yb)
    other = non_iid_partitions(X_train, y_train, N_PARTS, seed=8)
    assert not np.array_equal(first[0][0], other[0][0])


@pytest.mark.parametrize("own_fraction", [0.8, 0.9])
def test_partitions_mostly_see_their_own_classes(
    split: tuple[np.ndarray, ...], own_fraction: float
) -> None:
    _, y_train, _, _ = split
    groups = class_groups(np.unique(y_train), N_PARTS)
    assert [len(g) for g in groups] == [4, 3, 3]
    for (_, y), own in zip(
        _ids_partitions(y_train, seed=0, own_fraction=own_fraction), groups, strict=True
    ):
        fraction = np.isin(y, own).mean()
        assert fraction == pytest.approx(own_fraction, abs=1.0 / len(y))
        # The rest is spread over every other class, not dumped on one of them.
        others = np.setdiff1d(np.arange(10), own)
        assert np.all(np.bincount(y, minlength=10)[others] > 0)


def test_partition_arguments_are_checked(split: tuple[np.ndarray, ...]) -> None:
    X_train, y_train, _, _ = split
    with pytest.raises(ValueError):
        non_iid_partitions(X_train, y_train, len(y_train) + 1, seed=0)
    with pytest.raises(ValueError):
        non_iid_partitions(X_train, y_train, 0, seed=0)
    with pytest.raises(ValueError):
        non_iid_partitions(X_train, y_train, 3, seed=0, own_fraction=0.0)
    with pytest.raises(ValueError):
        non_iid_partitions(X_train, y_train[:-1], 3, seed=0)


def test_partition_and_test_set_files_round_trip(
    tmp_path: Path, split: tuple[np.ndarray, ...]
) -> None:
    X_train, y_train, X_test, y_test = split
    write_partition(tmp_path, X_train[:50], y_train[:50])
    write_test_set(tmp_path, X_test, y_test)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.npz", "train.npz"]
    X, y = read_partition(tmp_path)
    np.testing.assert_array_equal(X, X_train[:50])
    np.testing.assert_array_equal(y, y_train[:50])
    assert X.dtype == np.float32 and y.dtype == np.int64
    X, y = read_test_set(tmp_path)
    np.testing.assert_array_equal(y, y_test)


def test_reading_refuses_pickled_arrays(tmp_path: Path) -> None:
    np.savez(tmp_path / "train.npz", X=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(ValueError):
        read_partition(tmp_path)


def test_build_mlp_is_seeded() -> None:
    a, b, c = build_mlp(3), build_mlp(3), build_mlp(4)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


@pytest.mark.usefixtures("one_thread")
def test_central_beats_chance_and_local_only_is_clearly_below(
    split: tuple[np.ndarray, ...],
) -> None:
    X_train, y_train, X_test, y_test = split
    # Comparable budgets: 15 central epochs of 45 batches ~ 45 local epochs of 14 batches.
    central = baseline_accuracy(X_train, y_train, X_test, y_test, epochs=15, seed=0, device="cpu")
    assert central > 0.85
    parts = non_iid_partitions(X_train, y_train, N_PARTS, seed=0)
    local = [
        baseline_accuracy(X, y, X_test, y_test, epochs=45, seed=0, device="cpu") for X, y in parts
    ]
    logging.getLogger(__name__).info("central %.3f, local-only %s", central, local)
    assert max(local) < central - 0.02
    assert float(np.mean(local)) < central - 0.04


def test_train_digits_needs_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWARM_DATA_DIR", raising=False)
    monkeypatch.delenv("SWARM_MODEL_DIR", raising=False)
    assert train_digits.main(["--threads", "1"]) == 2


def test_more_parts_than_classes_share_their_own_classes(split: tuple[np.ndarray, ...]) -> None:
    # `swarm demo --learners 16` on 10 digits: part i owns class i mod 10.
    X_train, y_train, _, _ = split
    parts = non_iid_partitions(X_train, y_train, 16, seed=0, own_fraction=0.8)
    sizes = {len(y) for _, y in parts}
    assert len(sizes) == 1 and sizes.pop() > 0
    assert sum(len(y) for _, y in parts) <= len(y_train)
    for i, (_, y) in enumerate(parts):
        own = i % 10
        assert np.bincount(y, minlength=10).argmax() == own
        assert np.mean(y == own) == pytest.approx(0.8, abs=1.0 / len(y))
