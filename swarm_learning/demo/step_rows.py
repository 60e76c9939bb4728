"""A learner's own record of its sync steps (`sync_steps.jsonl`, one JSON line per step,
appended as it goes), read while it is still being written: what `swarm demo` shows as each
learner's progress and plots at the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from swarm_learning.callback import STEPS_FILE


def steps_path(model_dir: Path) -> Path:
    return model_dir / STEPS_FILE


def read_step_rows(model_dir: Path) -> list[dict[str, Any]]:
    """Every complete row so far; a line still being written (no newline yet) or a missing
    file count as nothing yet."""
    try:
        text = steps_path(model_dir).read_text(encoding="utf-8")
    except OSError:
        return []
    rows = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
