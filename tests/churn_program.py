"""The training program of the churn end-to-end tests (`tests/test_e2e_churn_*.py`).

Run by `swarm sl --program tests/churn_program.py -- [options]`; not a test module. A tiny
torch MLP on synthetic data (fixed seeds), trained with `SwarmCallback`:

    --steps N            train until this node has merged the swarm's sync step N (step 0 is
                         the first sync of `on_train_begin`); a node that starts late or
                         restarts stops at the same step as the others
    --stop-file PATH     if PATH exists when a sync is done, the number in it replaces N (lets a
                         test end the training at a step it picks while the swarm runs)
    --sync-frequency K   local batches between two sync steps
    --min-peers M        quorum
    --batch-delay S      sleep S seconds per batch (paces training; makes a node slow)
    --data-seed D        which synthetic data this node holds

Writes `$SWARM_MODEL_DIR/result.json` (final hash, steps done, the steps synced); the callback
already writes one `RoundResult` a line to `$SWARM_MODEL_DIR/sync_steps.jsonl`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from swarm_learning import SwarmCallback

FEATURES = 8
CLASSES = 3
BATCH = 16
SAMPLES = 256


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="churn_program")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--stop-file", type=Path, default=None)
    parser.add_argument("--sync-frequency", type=int, default=4)
    parser.add_argument("--min-peers", type=int, default=2)
    parser.add_argument("--batch-delay", type=float, default=0.0)
    parser.add_argument("--data-seed", type=int, default=0)
    return parser.parse_args()


def last_step(args: argparse.Namespace) -> int:
    """The step after which this node stops."""
    if args.stop_file is not None and args.stop_file.exists():
        text = args.stop_file.read_text().strip()
        if text:
            return int(text)
    return args.steps


def main() -> int:
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 16), torch.nn.ReLU(), torch.nn.Linear(16, CLASSES)
    )
    generator = torch.Generator().manual_seed(1000 + args.data_seed)
    x = torch.randn(SAMPLES, FEATURES, generator=generator)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = torch.nn.CrossEntropyLoss()

    cb = SwarmCallback(model=model, sync_frequency=args.sync_frequency, min_peers=args.min_peers)
    started = time.time()
    cb.on_train_begin()
    batch = 0
    while cb.history[-1].step < last_step(args):
        start = (batch * BATCH) % SAMPLES
        xb, yb = x[start : start + BATCH], y[start : start + BATCH]
        optimizer.zero_grad()
        loss_fn(model(xb), yb).backward()
        optimizer.step()
        if args.batch_delay > 0:
            time.sleep(args.batch_delay)
        batch += 1
        cb.on_batch_end()  # syncs every K batches; the loop test only changes after a sync
    cb.on_epoch_end(0)
    cb.on_train_end()

    model_dir = Path(os.environ["SWARM_MODEL_DIR"])
    result = {
        "final_model_hash": cb.final_model_hash,
        "steps_done": cb.steps_done,
        "steps": [r.step for r in cb.history],
        "batches": batch,
        "started_at": started,
        "finished_at": time.time(),
    }
    (model_dir / "result.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
