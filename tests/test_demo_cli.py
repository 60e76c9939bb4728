"""`swarm demo` as the README prints it (a real swarm of processes), and its plot."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from swarm_learning.demo.plot import plot_learners
from swarm_learning.demo.step_rows import read_step_rows

DEMO_TIMEOUT_S = 300


def png_pixels(path: Path) -> np.ndarray:
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(path)


def test_the_demo_shows_each_learners_progress_and_writes_its_plot(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWARM_")}
    result = subprocess.run(
        [sys.executable, "-m", "swarm_network.cli.main", "demo"]
        + ["--learners", "2", "--epochs", "1", "--work-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in out + result.stderr
    # Progress per learner, step n of N, from each learner's own sync_steps.jsonl.
    progress = [line for line in out.splitlines() if line.startswith("progress: ")]
    assert progress, out
    last = re.findall(r"(learner\d) (\d+)/(\d+)", progress[-1])
    assert [name for name, _, _ in last] == ["learner1", "learner2"]
    for name, done, total in last:
        rows = read_step_rows(tmp_path / name / "model")
        assert int(done) == len(rows) and int(total) >= len(rows) - 1, progress[-1]
    # The summary table, drawn by rich.
    header = next(line for line in out.splitlines() if line.startswith("learner "))
    assert header.split()[:3] == ["learner", "alone", "swarm"]
    assert "all learners hold the same final model" in out
    # The plot: its path printed, a real PNG with something drawn in it.
    (line,) = [line for line in out.splitlines() if line.startswith("plot of loss and accuracy")]
    path = Path(line.rsplit(": ", 1)[1])
    assert path == tmp_path / "swarm-demo.png"
    pixels = png_pixels(path)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 800
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 20  # lines, text


def rows(step_values: list[tuple[int, float, float]]) -> list[dict]:
    return [
        {"step": step, "metrics": {"loss": loss, "val_loss": loss + 0.1, "val_accuracy": acc}}
        for step, loss, acc in step_values
    ]


def test_the_plot_draws_every_learners_loss_and_accuracy(tmp_path: Path) -> None:
    a = rows([(0, 2.0, 0.1), (1, 1.0, 0.5), (2, 0.5, 0.8)])
    b = rows([(0, 2.2, 0.1), (1, 1.2, 0.4)])
    b.append({"step": 2, "metrics": {}})  # a step without figures draws nothing
    path = tmp_path / "out" / "plot.png"
    assert plot_learners({"a": a, "b": b}, path) == 3 * 3 + 2 * 3
    assert png_pixels(path).shape[1] > 800
    assert plot_learners({"a": [{"step": 0, "metrics": {}}]}, tmp_path / "empty.png") == 0


def test_step_rows_skip_a_line_still_being_written(tmp_path: Path) -> None:
    full = json.dumps({"step": 0, "metrics": {}})
    (tmp_path / "sync_steps.jsonl").write_text(full + "\n" + '{"step": 1, "metr')
    assert [r["step"] for r in read_step_rows(tmp_path)] == [0]
    assert read_step_rows(tmp_path / "missing") == []
