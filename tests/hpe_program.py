"""A learner program in the shape of HPE Swarm Learning's PyTorch examples, for the end-to-end
tests of its parameters (tests/test_e2e_hpe.py); not a test module. Run by
`swarm sl --program tests/hpe_program.py -- [options]`:

    --epochs N             epochs to train (this node's stopping point)
    --batches B            batches per epoch
    --mode M               checkinModelOnTrainEnd
    --adaptive             useAdaptiveSync (with adsValData and lossFunction)
    --sync-frequency K     syncFrequency
    --min-peers M          minPeers
    --seed D               which synthetic data this node holds

Writes `$SWARM_MODEL_DIR/result.json` (its address, final hash, the steps it synced).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import torch

from swarm_learning import SwarmCallback

FEATURES, CLASSES, BATCH = 8, 3, 16


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hpe_program")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--mode", default="snapshot")
    parser.add_argument("--adaptive", action="store_true")
    parser.add_argument("--sync-frequency", type=int, default=4)
    parser.add_argument("--min-peers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def synthetic(seed: int, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, FEATURES, generator=generator)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    return x, y


def main() -> int:
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 16), torch.nn.ReLU(), torch.nn.Linear(16, CLASSES)
    )
    x, y = synthetic(1000 + args.seed, args.batches * BATCH)
    val = synthetic(99, 128)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    swarm_callback = SwarmCallback(
        model=model,
        syncFrequency=args.sync_frequency,
        minPeers=args.min_peers,
        useAdaptiveSync=args.adaptive,
        adsValData=val,
        adsValBatchSize=64,
        checkinModelOnTrainEnd=args.mode,
        nodeWeightage=50,
        mlPlatform="PYTORCH",
        totalEpochs=args.epochs,
        lossFunction="CrossEntropyLoss",
        metricFunction="accuracy",
    )
    swarm_callback.logger.setLevel(logging.INFO)
    swarm_callback.on_train_begin()
    for epoch in range(1, args.epochs + 1):
        model.train()
        for batch in range(args.batches):
            xb, yb = x[batch * BATCH : (batch + 1) * BATCH], y[batch * BATCH : (batch + 1) * BATCH]
            optimizer.zero_grad()
            loss_fn(model(xb), yb).backward()
            optimizer.step()
            swarm_callback.on_batch_end()
        swarm_callback.on_epoch_end(epoch)
    swarm_callback.on_train_end()
    result = {
        "address": swarm_callback.node.address,
        "final_model_hash": swarm_callback.final_model_hash,
        "steps": [r.step for r in swarm_callback.history],
    }
    Path(os.environ["SWARM_MODEL_DIR"], "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
