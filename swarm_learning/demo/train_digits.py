"""The user program a learner node runs in the digits demo.

``swarm sl`` (or ``swarm demo``) starts it with the node's settings in its environment, so the
same program runs unchanged on every site::

    python -m swarm_learning.demo.train_digits [--epochs N] [--batch-size B] [--lr LR]
        [--sync-frequency K] [--min-peers M] [--seed S] [--device DEV] [--threads T]
        [--merge-method NAME] [--merge-params JSON] [--byzantine {scale,random}]

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

``--merge-method`` / ``--merge-params`` choose how the swarm merges (the first learner records
them on chain; a learner asking for another method is refused). ``--byzantine`` turns this
learner into an attacker for robustness tests and demos: it follows the protocol to the letter
(its check-ins, files and hashes are all valid), but the weights it contributes are poisoned
right before every sync, so only the merge method stands between it and the swarm's model.
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
from typing import TYPE_CHECKING, Any

import torch

from swarm_learning.demo.baselines import baseline_accuracy
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
from swarm_learning.merge import DEFAULT_METHOD, METHODS, choose_merge
from swarm_learning.settings import ENV_NAMES, SYNC_EVERY_EPOCH
from swarm_network.errors import ConfigError

if TYPE_CHECKING:  # for annotations only: `run` imports it when it needs it
    from swarm_learning.callback import SwarmCallback

log = logging.getLogger("swarm_learning.demo.train_digits")

DEFAULT_SYNC_FREQUENCY = 32
DEFAULT_MIN_PEERS = 2
DEFAULT_SEED = 0
DEFAULT_MERGE_METHOD = DEFAULT_METHOD

#: The Byzantine attacks (``--byzantine``): what a poisoned contribution is made of.
ATTACK_SCALE = "scale"
ATTACK_RANDOM = "random"
ATTACKS = (ATTACK_SCALE, ATTACK_RANDOM)
#: ``scale`` sends ``SCALE_FACTOR * weights``: same direction as an honest model, flipped and
#: ten times too long, so that it dominates a plain mean yet is easy to recognise as an outlier.
SCALE_FACTOR = -10.0
#: ``random`` sends N(0, RANDOM_STD^2) noise: the digits MLP's weights are of order 0.1, so this
#: is about a hundred times their size.
RANDOM_STD = 10.0
ATTACK_SEED_OFFSET = 7919

DATA_DIR_ENV = ENV_NAMES["data_dir"]
MODEL_DIR_ENV = ENV_NAMES["model_dir"]
DEVICE_ENV = ENV_NAMES["device"]
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
        type=_sync_frequency,
        default=DEFAULT_SYNC_FREQUENCY,
        help='local batches between two sync steps, or "epoch" (one step per local epoch)',
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
    parser.add_argument(
        "--merge-method",
        default=DEFAULT_MERGE_METHOD,
        help=f"how the swarm merges weights ({', '.join(sorted(METHODS))}); must match the "
        "method the swarm's training was configured with",
    )
    parser.add_argument(
        "--merge-params",
        default="{}",
        help="JSON object of merge parameters, e.g. '{\"beta\": 0.2}' or '{\"f\": 1}'",
    )
    parser.add_argument(
        "--byzantine",
        choices=ATTACKS,
        default=None,
        help="make this learner malicious: before every sync its weights become "
        f"{SCALE_FACTOR:g} * weights (scale) or N(0, {RANDOM_STD:g}^2) noise (random)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "min_peers", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.lr <= 0:
        parser.error("--lr must be positive")
    # Checked here so that a typo is a usage error before the node joins, not a failure at the
    # first merge after every peer has already checked in.
    try:
        choose_merge(args.merge_method, args.merge_params)
    except ConfigError as exc:
        parser.error(str(exc))
    return args


def _sync_frequency(text: str) -> int | str:
    """`--sync-frequency`: a number of batches (at least 1) or "epoch"."""
    if text.strip().lower() == SYNC_EVERY_EPOCH:
        return SYNC_EVERY_EPOCH
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'must be a number of batches or "epoch": {text!r}'
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


class ByzantineAttack:
    """Poisons a model's weights in place, as a malicious learner would before a sync.

    Only floating-point tensors are touched (integer buffers such as step counters would be
    refused or rounded anyway). ``random`` draws from its own seeded generator, so an attacked
    run is as reproducible as an honest one.
    """

    def __init__(self, kind: str, seed: int) -> None:
        if kind not in ATTACKS:
            raise ValueError(f"unknown attack {kind!r}; known: {', '.join(ATTACKS)}")
        self.kind = kind
        # Not `seed` itself: the model was initialised from the stream of `seed`, and noise
        # drawn from that same stream would be correlated with the initial weights.
        self._generator = torch.Generator().manual_seed(ATTACK_SEED_OFFSET + seed)
        self.count = 0

    @torch.no_grad()
    def corrupt(self, model: torch.nn.Module) -> None:
        """Replace ``model``'s weights by the poisoned ones (its state dict shares storage)."""
        for tensor in model.state_dict().values():
            if not tensor.is_floating_point():
                continue
            if self.kind == ATTACK_SCALE:
                tensor.mul_(SCALE_FACTOR)
            else:
                noise = torch.randn(tensor.shape, generator=self._generator) * RANDOM_STD
                tensor.copy_(noise.to(dtype=tensor.dtype, device=tensor.device))
        self.count += 1


class ByzantineHooks:
    """The training-loop hooks of a ``SwarmCallback``, with the model poisoned right before
    each sync reads it.

    The attack lives in the program, not in the library, on purpose: the swarm cannot tell
    this learner from an honest one (its weight file is exactly what it committed to on
    chain), which is the situation the robust merge methods are for. It mirrors when the
    callback syncs: in ``on_train_begin``, every ``sync_frequency`` batches (or at each
    ``on_epoch_end`` with ``"epoch"``), and in ``on_train_end`` unless nothing is left
    unsent. Between syncs the learner trains from the merged model like everybody else, so
    each poisoned contribution starts from the swarm's current weights.
    """

    def __init__(self, callback: SwarmCallback, attack: ByzantineAttack) -> None:
        self.callback = callback
        self.attack = attack

    def on_train_begin(self) -> None:
        self.attack.corrupt(self.callback.model)
        self.callback.on_train_begin()

    def on_batch_end(self, batch: int | None = None) -> None:
        cb = self.callback
        if not cb.syncs_every_epoch and cb.batches_since_sync + 1 >= cb.settings.sync_frequency:
            self.attack.corrupt(cb.model)
        cb.on_batch_end(batch)

    def on_epoch_end(self, epoch: int | None = None) -> None:
        if self.callback.syncs_every_epoch and self.callback.batches_since_sync:
            self.attack.corrupt(self.callback.model)
        self.callback.on_epoch_end(epoch)

    def on_train_end(self) -> None:
        if self.callback.batches_since_sync:
            self.attack.corrupt(self.callback.model)
        self.callback.on_train_end()


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
    cb = SwarmCallback(
        model=model,
        sync_frequency=args.sync_frequency,
        min_peers=args.min_peers,
        merge_method=args.merge_method,
        merge_params=args.merge_params,
        num_samples=len(y_train),  # the weight if the training says mean by samples
        # HPE's parameters: the callback reports validation loss and accuracy every step (on
        # the shared test set, which this demo has; a real site would hold out its own data).
        lossFunction="CrossEntropyLoss",
        metricFunction="accuracy",
        adsValData=(X_test, y_test),
        adsValBatchSize=256,
    )
    hooks: SwarmCallback | ByzantineHooks = cb
    attack: ByzantineAttack | None = None
    if args.byzantine:
        attack = ByzantineAttack(args.byzantine, seed=args.seed)
        hooks = ByzantineHooks(cb, attack)
        log.warning("BYZANTINE learner (%s attack): poisoning every contribution", args.byzantine)
    started = time.perf_counter()
    hooks.on_train_begin()
    train_epochs(
        model,
        X_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        on_batch_end=hooks.on_batch_end,
        on_epoch_end=hooks.on_epoch_end,
        on_loss=lambda value: cb.log_metrics(loss=value),  # training loss, averaged per step
    )
    hooks.on_train_end()
    if attack is not None:
        log.warning("poisoned %d contribution(s) with the %s attack", attack.count, attack.kind)
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
    local_acc = baseline_accuracy(
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
        "byzantine": attack is not None,
        "merge_method": cb.settings.merge_method,
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
