"""The learner of `benchmarks/scale.py`, run under `swarm sl`
(``python -m benchmarks.wire.scale_learner --params N --steps S --learners P``).

It measures the swarm, not the training: the model of `benchmarks/wire/task.py` sized to
`--params`, one SGD batch between two syncs (so every contribution differs and every merge
is real), a sync after every batch, `min_peers` = P (every step waits for all), `mean`.
The callback writes each step's `RoundResult` to `$SWARM_MODEL_DIR/sync_steps.jsonl`; this
program adds `$SWARM_MODEL_DIR/scale.json` with the size of its weight file.

Disk: a learner's store keeps every file it ever held (P + 1 a step: its own, its peers',
the merge); at 10 M parameters and P = 16 the swarm would write 11 GB a step. After each sync
it removes the store's files older than the last three steps (nobody asks for those in a
swarm where everyone is in every step), so a run needs a few GB at most.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from benchmarks.wire.task import build_model, load_part, optimiser, train_batches
from swarm_learning.callback import SwarmCallback

KEEP_STEPS = 3


def prune_store(store: Path, learners: int) -> None:
    files = sorted(
        (p for p in store.iterdir() if p.is_file() and len(p.name) == 64),
        key=lambda p: p.stat().st_mtime,
    )
    for path in files[: max(0, len(files) - KEEP_STEPS * (learners + 1))]:
        path.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--learners", type=int, required=True)
    parser.add_argument("--part", type=int, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y = load_part(args.part, args.learners)
    X, y = X[:32], y[:32]  # one batch
    model = build_model(args.params)
    opt = optimiser(model)
    callback = SwarmCallback(model, sync_frequency=1, min_peers=args.learners, merge_method="mean")
    callback.on_train_begin()
    store = Path(os.environ["SWARM_NODE_DIR"]) / "files"
    for _ in range(args.steps):
        for _batch in train_batches(model, opt, X, y):
            callback.on_batch_end()
        prune_store(store, args.learners)
    callback.on_train_end()
    sizes = [p.stat().st_size for p in store.iterdir() if p.is_file() and len(p.name) == 64]
    out = Path(os.environ["SWARM_MODEL_DIR"]) / "scale.json"
    out.write_text(json.dumps({"weight_file_bytes": max(sizes)}))


if __name__ == "__main__":
    main()
