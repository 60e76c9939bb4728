"""End to end, Keras: three learners run `model.fit(..., callbacks=[SwarmCallback(...)])` on
Keras 3 with the torch backend (tests/keras_program.py, under `swarm sl`), each on a third of the
digits; they end with one model that recognises the held-out digits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swarm_learning.demo.local_swarm import LocalSwarm

pytestmark = pytest.mark.slow  # about a minute per swarm on an idle 2-core machine

PROGRAM = Path(__file__).with_name("keras_program.py")


def test_three_keras_learners_end_with_one_model(local_swarm: LocalSwarm) -> None:
    local_swarm.environment.update(
        SWARM_GRACE_SECONDS="2", SWARM_TORCH_THREADS="1", KERAS_BACKEND="torch"
    )
    rest = local_swarm.start_sentinel()
    procs = [
        local_swarm._spawn(
            f"k{part}",
            [
                "sl",
                "--sn",
                rest,
                "--program",
                str(PROGRAM),
                "--node-dir",
                str(local_swarm.learner_dir(f"k{part}")),
                "--file-host",
                "127.0.0.1",
                "--file-port",
                "0",
                "--",
                "--part",
                str(part),
            ],
        )  # fmt: skip
        for part in range(3)
    ]
    assert local_swarm.wait(procs, 300), [p.log_tail() for p in procs]
    assert all(p.popen.returncode == 0 for p in procs), [p.log_tail() for p in procs]
    results = [
        json.loads((local_swarm.learner_dir(f"k{part}") / "model" / "result.json").read_text())
        for part in range(3)
    ]
    assert len({r["final_model_hash"] for r in results}) == 1
    assert results[0]["final_model_hash"] is not None
    assert all(r["accuracy"] >= 0.8 for r in results), results  # chance is 0.1
    steps = (local_swarm.learner_dir("k0") / "model" / "sync_steps.jsonl").read_text().splitlines()
    assert len(steps) >= 5  # 2 syncs an epoch over 3 epochs, and the first one
