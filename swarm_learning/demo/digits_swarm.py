"""The digits demo on a `LocalSwarm`: which program its learners run, the data each one gets,
and what they leave behind. `swarm demo`, the end-to-end tests and the benchmarks share it."""

from __future__ import annotations

import json
import statistics
from typing import Any

from swarm_learning.callback import STEPS_FILE
from swarm_learning.demo import train_digits
from swarm_learning.demo.data import (
    load_split,
    non_iid_partitions,
    write_partition,
    write_test_set,
)
from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_learning.demo.model import DEFAULT_BATCH_SIZE, n_batches

TRAIN_MODULE = train_digits.__name__  # what every learner of the demo runs
TIMING_KEYS = ("total_s", "check_in_s", "wait_s", "transfer_s", "merge_s")


def prepare_learner_data(
    swarm: LocalSwarm, names: list[str], seed: int, *, own_fraction: float = 0.8
) -> tuple:
    """Write each learner's non-IID part of the digits, and the shared test set, into its
    data dir; returns the whole split (X_train, y_train, X_test, y_test) for comparisons."""
    X_train, y_train, X_test, y_test = load_split(seed=seed)
    parts = non_iid_partitions(X_train, y_train, len(names), seed=seed, own_fraction=own_fraction)
    for name, part in zip(names, parts, strict=True):
        data_dir = swarm.learner_dir(name) / "data"
        write_partition(data_dir, *part)
        write_test_set(data_dir, X_test, y_test)
    return X_train, y_train, X_test, y_test


def expected_steps(part_size: int, epochs: int) -> int:
    """How many sync steps a learner with `part_size` samples runs in `epochs` epochs."""
    sync_frequency = train_digits.DEFAULT_SYNC_FREQUENCY
    batches = n_batches(part_size, DEFAULT_BATCH_SIZE) * epochs
    return 1 + batches // sync_frequency + (1 if batches % sync_frequency else 0)


def read_result(swarm: LocalSwarm, name: str) -> dict[str, Any] | None:
    """The learner's result.json, or None when it wrote none (it failed)."""
    path = swarm.learner_dir(name) / "model" / train_digits.RESULT_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def step_timings(swarm: LocalSwarm, names: list[str]) -> dict[str, float]:
    """Median time of each phase of a sync step, over every step of every learner."""
    rows: list[dict[str, float]] = []
    for name in names:
        path = swarm.learner_dir(name) / "model" / STEPS_FILE
        if path.exists():
            rows += [json.loads(line) for line in path.read_text().splitlines() if line]
    if not rows:
        return {}
    return {k: statistics.median(r[k] for r in rows) for k in TIMING_KEYS}
