"""The user program a learner node runs in the digits demo.

``swarm sl`` (or ``swarm demo``) starts it with the node's settings in its environment, so the
same program runs unchanged on every site::

    python -m swarm_learning.demo.train_digits [--epochs N] [--batch-size B] [--lr LR]
        [--sync-frequency K] [--min-peers M] [--seed S] [--device DEV] [--threads T]

It reads its private partition from ``$SWARM_DATA_DIR`` (``train.npz``, plus the shared
``test.npz``) and writes ``$SWARM_MODEL_DIR/result.json``. It first trains a model alone on its
part (what this site would get without the swarm), then trains a fresh model with the swarm, and
reports both accuracies on the shared test set so that the gain is visible per site.

The defaults were chosen by simulating the swarm (3 learners on ~1/3 of the train set each,
weights averaged every ``sync_frequency`` batches) against a central model: 60 epochs of 14
batches of 32 at lr 3e-3 with a sync every 32 batches gives 28 sync steps (the first, 26
periodic, the last) and a merged model within about 1 point of central (at most 2 over seeds
0-7). Each of the two trainings takes well under a second of compute on one CPU thread.

Torch runs on ``--threads`` threads (default ``$SWARM_TORCH_THREADS``, else 1): the demo starts
several learners on one machine and the model is tiny, so intra-op parallelism buys nothing and
threads competing for the same cores made training tens of times slower when measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from swarm_learning.demo.baselines import local_accuracy
from swarm_learning.demo.data import read_partition, read_test_set
from swarm_learning.demo.model import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    build_mlp,
    evaluate,
    n_batches,
    train_epochs,
)

log = logging.getLogger("swarm_learning.demo.train_digits")

DEFAULT_SYNC_FREQUENCY = 32
DEFAULT_MIN_PEERS = 2
DEFAULT_SEED = 0

DATA_DIR_ENV = "SWARM_DATA_DIR"
MODEL_DIR_ENV = "SWARM_MODEL_DIR"
DEVICE_ENV = "SWARM_DEVICE"
THREADS_ENV = "SWARM_TORCH_THREADS"
RESULT_FILE = "result.json"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line, with defaults taken from the environment where set."""
    parser = argparse.ArgumentParser(
        prog="train_digits",
        description="Train the digits MLP on this node's partition, with and without the swarm.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="passes over the data")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="batch size")
    parser.add_argument("--lr", type=float, default=DEFAULT_LR, help="Adam learning rate")
    parser.add_argument(
        "--sync-frequency",
        type=int,
        default=DEFAULT_SYNC_FREQUENCY,
        help="local batches between two sync steps",
    )
    parser.add_argument(
        "--min-peers",
        type=int,
        default=DEFAULT_MIN_PEERS,
        help="learners needed before a sync step can close",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="model initialisation and batch order"
    )
    parser.add_argument(
        "--device",
        default=os.environ.get(DEVICE_ENV) or "cpu",
        help=f"torch device (${DEVICE_ENV} sets the default)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        # A string default goes through type=int too, so a bad variable is a usage error.
        default=os.environ.get(THREADS_ENV) or "1",
        help=f"torch CPU threads (${THREADS_ENV} sets the default)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "sync_frequency", "min_peers", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.lr <= 0:
        parser.error("--lr must be positive")
    return args


def _write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Write then rename, so that whoever polls for the result never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def run(args: argparse.Namespace, data_dir: Path, model_dir: Path) -> dict[str, Any]:
    """Train with the swarm, then alone; write ``model_dir/result.json`` and return it."""
    from swarm_learning import SwarmCallback

    X_train, y_train = read_partition(data_dir)
    X_test, y_test = read_test_set(data_dir)
    log.info(
        "data: %d training samples (%d batches/epoch), %d test samples, device %s",
        len(y_train),
        n_batches(len(y_train), args.batch_size),
        len(y_test),
        args.device,
    )

    model = build_mlp(args.seed)
    cb = SwarmCallback(model=model, sync_frequency=args.sync_frequency, min_peers=args.min_peers)
    started = time.perf_counter()
    cb.on_train_begin()
    train_epochs(
        model,
        X_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        on_batch_end=cb.on_batch_end,
        on_epoch_end=cb.on_epoch_end,
    )
    cb.on_train_end()
    swarm_acc = evaluate(model, X_test, y_test, args.device)
    log.info(
        "swarm accuracy: %.4f after %d sync steps (%.1fs); final model %s",
        swarm_acc,
        cb.steps_done,
        time.perf_counter() - started,
        cb.final_model_hash,
    )

    # Alone on its own part, after the swarm run so that every learner joins step 0 together.
    started = time.perf_counter()
    local_acc = local_accuracy(
        X_train,
        y_train,
        X_test,
        y_test,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
        batch_size=args.batch_size,
        lr=args.lr,
    )
    log.info("local-only accuracy: %.4f (%.1fs)", local_acc, time.perf_counter() - started)

    result: dict[str, Any] = {
        "local_accuracy": local_acc,
        "swarm_accuracy": swarm_acc,
        "final_model_hash": cb.final_model_hash,
        "train_samples": len(y_train),
        "sync_steps": cb.steps_done,
    }
    _write_json_atomically(model_dir / RESULT_FILE, result)
    log.info("result written to %s", model_dir / RESULT_FILE)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: configure logging, check the environment, run. Returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    missing = [name for name in (DATA_DIR_ENV, MODEL_DIR_ENV) if not os.environ.get(name)]
    if missing:
        log.error(
            "%s not set: this program is meant to be started by `swarm sl`, which sets them",
            ", ".join(f"${name}" for name in missing),
        )
        return 2
    torch.set_num_threads(args.threads)
    run(args, Path(os.environ[DATA_DIR_ENV]), Path(os.environ[MODEL_DIR_ENV]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
