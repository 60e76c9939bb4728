"""Our side of `benchmarks/vs_flower.py`: the user program a learner runs under `swarm sl`
(``python -m benchmarks.wire.swarm_learner --params N --rounds R --part I --parts P``).

One sync per local epoch (`sync_frequency` = the learner's batches per epoch), `min_peers` =
all learners, weights weighed by sample count. Writes ``$SWARM_MODEL_DIR/wire.json``: for
each round, when its local training ended and when its sync ended (wall clock, so the driver
can line the learners up), and the final accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from benchmarks.wire.task import (
    accuracy,
    batches_per_epoch,
    build_model,
    load_part,
    optimiser,
    train_batches,
)
from swarm_learning.callback import SwarmCallback


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", type=int, required=True)
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--part", type=int, required=True)
    parser.add_argument("--parts", type=int, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y = load_part(args.part, args.parts)
    model = build_model(args.params)
    opt = optimiser(model)
    batches = batches_per_epoch(len(X))
    callback = SwarmCallback(
        model,
        sync_frequency=batches,
        min_peers=args.parts,
        num_samples=len(X),
        total_epochs=args.rounds,
        merge_method="mean",
        merge_params=json.dumps({"weight_by": "samples"}),
    )
    callback.on_train_begin()  # the first sync: every learner starts from one model
    rounds = []
    for _ in range(args.rounds):
        started = time.time()
        for batch, _ in enumerate(train_batches(model, opt, X, y), start=1):
            if batch == batches:
                trained = time.time()
            callback.on_batch_end()
        rounds.append({"train_start": started, "train_end": trained, "sync_end": time.time()})
    callback.on_train_end()
    out = Path(os.environ["SWARM_MODEL_DIR"]) / "wire.json"
    out.write_text(json.dumps({"rounds": rounds, "accuracy": accuracy(model)}))


if __name__ == "__main__":
    main()
