"""`swarm demo`'s progress, for people: one rich progress bar per learner (step n of N, from
the learner's own `sync_steps.jsonl`, with its latest validation accuracy) and the swarm's
state from REST. A redirected output (a log, CI) gets one plain line every few seconds
instead of bars redrawn in place."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from swarm_learning.demo.step_rows import read_step_rows
from swarm_network.errors import SwarmError
from swarm_network.http_json import get_json

PLAIN_EVERY_S = 5.0  # a redirected output: one line this often


class DemoProgress:
    def __init__(
        self, out: Console, sn_url: str, model_dirs: Mapping[str, Path], expected_steps: int
    ) -> None:
        self.out, self.sn_url, self.model_dirs = out, sn_url, dict(model_dirs)
        self.expected = max(1, expected_steps)
        self.last_plain = 0.0
        self.bars: Progress | None = None
        self.tasks: dict[str, int] = {}
        if out.is_terminal:
            self.bars = Progress(
                TextColumn("{task.description:<10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("steps  {task.fields[figure]}"),
                TimeElapsedColumn(),
                console=out,
            )
            for name in self.model_dirs:
                self.tasks[name] = self.bars.add_task(name, total=self.expected, figure="")
            self.bars.start()

    def learner_steps(self) -> dict[str, tuple[int, str]]:
        """Each learner's steps done and its latest validation accuracy, as text."""
        done = {}
        for name, model_dir in self.model_dirs.items():
            rows = read_step_rows(model_dir)
            accuracy = (rows[-1].get("metrics") or {}).get("val_accuracy") if rows else None
            done[name] = (len(rows), "" if accuracy is None else f"accuracy {accuracy:.3f}")
        return done

    def swarm_state(self) -> str:
        try:
            training = get_json(f"{self.sn_url}/v1/training", timeout_s=2)
        except SwarmError:
            return "SN node busy"  # the next tick asks again
        state = training["state"]
        if state == "waiting_for_quorum":
            state += f" {training['checked_in']}/{training['effective_quorum']}"
        return f"swarm step {training['current_step']}, {state}"

    def tick(self) -> None:
        steps = self.learner_steps()
        if self.bars is not None:
            for name, (done, figure) in steps.items():
                self.bars.update(self.tasks[name], completed=done, figure=figure)
            return
        now = time.monotonic()
        if now - self.last_plain >= PLAIN_EVERY_S:
            self.last_plain = now
            each = ", ".join(f"{name} {done}/{self.expected}" for name, (done, _) in steps.items())
            self.out.print(f"progress: {each} ({self.swarm_state()})")
            self.out.file.flush()

    def close(self) -> None:
        if self.bars is not None:
            self.tick()
            self.bars.stop()
        else:
            self.last_plain = 0.0
            self.tick()  # the last line shows where every learner ended
