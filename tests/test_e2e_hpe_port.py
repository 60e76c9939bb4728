"""End to end, a port from HPE: tests/hpe_port_program.py is HPE's PyTorch MNIST example in its
shape, with every callback parameter in HPE's spelling and only its import line changed, on
the digits. Two learners run it under `swarm sl`; both reach the accuracy of the demo and end
with one model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from swarm_learning.demo.local_swarm import LocalSwarm

pytestmark = pytest.mark.slow  # about a minute on an idle 2-core machine

PROGRAM = Path(__file__).with_name("hpe_port_program.py")
#: the digits demo (`swarm demo`) reaches 0.969 with 3 non-IID learners (README, "Speed against
#: Flower"); two IID halves for 12 epochs (Adam at its default rate) are held to 0.9
ACCURACY = 0.9


def test_hpe_pytorch_example_runs_with_one_changed_import(
    local_swarm: LocalSwarm,
) -> None:
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
    local_swarm.environment.update(
        SWARM_GRACE_SECONDS="2", SWARM_TORCH_THREADS="1", MAX_EPOCHS="12", MIN_PEERS="2"
    )
    rest = local_swarm.start_sentinel()
    procs = []
    for part in range(2):
        name = f"hpe{part}"
        data_dir = local_swarm.learner_dir(name) / "app-data"
        data_dir.mkdir(parents=True)
        np.savez(
            data_dir / "mnist.npz",
            x_train=x_train[part::2], y_train=y_train[part::2], x_test=x_test, y_test=y_test,
        )  # fmt: skip
        own_dirs = {
            "DATA_DIR": str(data_dir),
            "MODEL_DIR": str(local_swarm.learner_dir(name) / "model"),
        }
        procs.append(
            local_swarm._spawn(
                name,
                [
                    "sl",
                    "--sn",
                    rest,
                    "--program",
                    str(PROGRAM),
                    "--node-dir",
                    str(local_swarm.learner_dir(name)),
                    "--file-host",
                    "127.0.0.1",
                    "--file-port",
                    "0",
                ],
                env=own_dirs,
            )  # fmt: skip
        )
    assert local_swarm.wait(procs, 300), [p.log_tail() for p in procs]
    assert all(p.popen.returncode == 0 for p in procs), [p.log_tail() for p in procs]
    models = [local_swarm.learner_dir(f"hpe{part}") / "model" for part in range(2)]
    accuracies = [float((m / "accuracy.txt").read_text()) for m in models]
    assert all(a >= ACCURACY for a in accuracies), accuracies
    finals = {(m / "final_model.safetensors").read_bytes() for m in models}
    assert len(finals) == 1
    assert all((m / "mnist_pyt" / "saved_model.pt").exists() for m in models)
