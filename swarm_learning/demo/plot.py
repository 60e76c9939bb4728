"""The demo's picture: loss and accuracy per learner and sync step, as a PNG drawn by
matplotlib's Agg backend (no display needed, so it works on a server and in CI). The figures
come from each learner's `sync_steps.jsonl` rows (their `metrics`: the program's training
`loss`, and `val_loss` / `val_accuracy` from the callback's evaluation)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: never try to open a window

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

log = logging.getLogger(__name__)

#: (metric, axis title, line style) drawn for each learner
LOSS_LINES = (("loss", "training loss", "-"), ("val_loss", "validation loss", "--"))
ACCURACY_LINES = (("val_accuracy", "validation accuracy", "-"),)


def _series(rows: Sequence[Mapping[str, Any]], metric: str) -> tuple[list[int], list[float]]:
    steps, values = [], []
    for row in rows:
        value = (row.get("metrics") or {}).get(metric)
        if isinstance(value, int | float):
            steps.append(int(row["step"]))
            values.append(float(value))
    return steps, values


def plot_learners(rows_by_learner: Mapping[str, Sequence[Mapping[str, Any]]], path: Path) -> int:
    """Draw every learner's loss (left) and accuracy (right) against the step into `path`;
    returns how many points were drawn (0: the learners reported no figures)."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    points = 0
    try:
        for index, (name, rows) in enumerate(sorted(rows_by_learner.items())):
            colour = f"C{index % 10}"
            for ax, lines in ((loss_ax, LOSS_LINES), (acc_ax, ACCURACY_LINES)):
                for metric, title, style in lines:
                    steps, values = _series(rows, metric)
                    if steps:
                        ax.plot(
                            steps,
                            values,
                            style,
                            marker="o",  # a single point still shows
                            markersize=3,
                            color=colour,
                            label=f"{name} {title}",
                        )
                        points += len(steps)
        loss_ax.set(title="loss", xlabel="sync step", ylabel="loss")
        acc_ax.set(title="accuracy", xlabel="sync step", ylabel="accuracy")
        for ax in (loss_ax, acc_ax):
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
            if ax.lines:
                ax.legend(fontsize="small")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    log.info("plotted %d points to %s", points, path)
    return points
