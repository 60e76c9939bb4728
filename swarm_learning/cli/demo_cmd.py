"""`swarm demo`: a whole swarm on this machine (sentinel, one more SN node, N learners as
separate processes on loopback) training an MLP on scikit-learn's bundled digits, split
non-IID across the learners. Ends with a table comparing each learner alone, the swarm, and
one model trained on all the data."""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swarm_network.text_table import console, rich_table

if TYPE_CHECKING:  # the demo's modules import torch: loaded when it runs, not for --help
    from rich.console import Console

    from swarm_learning.demo.local_swarm import NodeProcess

LEARNER_TIMEOUT_S = 600.0
ACCURACY_TOLERANCE = 0.02
PLOT_FILE = "swarm-demo.png"  # in the work dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run a whole swarm on this machine on the digits dataset")
    p.add_argument("--learners", type=int, default=3)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--min-peers", type=int, default=2)
    p.add_argument("--work-dir", type=Path, help="default: a temporary directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=run_demo)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(args: argparse.Namespace) -> int:
    if args.learners < 2:
        print("swarm demo: needs at least 2 learners", file=sys.stderr)
        return 2
    from swarm_learning.cli.demo_progress import DemoProgress
    from swarm_learning.demo.baselines import baseline_accuracy
    from swarm_learning.demo.digits_swarm import (
        TRAIN_MODULE,
        expected_steps,
        prepare_learner_data,
        read_result,
        step_timings,
    )
    from swarm_learning.demo.local_swarm import LocalSwarm
    from swarm_learning.demo.model import DEFAULT_EPOCHS

    epochs = args.epochs or DEFAULT_EPOCHS
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="swarm-demo-"))
    names = [f"learner{i + 1}" for i in range(args.learners)]
    swarm = LocalSwarm(work_dir=work_dir)
    # Both, explicitly: a process started in the background may inherit SIGINT as ignored.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    started = time.monotonic()
    out = console()
    out.print(f"swarm demo: {args.learners} learners on digits, work dir {work_dir}")
    try:
        X_train, y_train, X_test, y_test = prepare_learner_data(swarm, names, args.seed)
        part_size = len(X_train) // args.learners
        out.print("starting the sentinel (chain + contracts) ...")
        sentinel_url = swarm.start_sentinel()
        out.print("starting a second SN node ...")
        sn_url = swarm.start_sn()
        program_args = ["--epochs", str(epochs), "--min-peers", str(args.min_peers)]
        program_args += ["--seed", str(args.seed)]
        learners: list[NodeProcess] = []
        for i, name in enumerate(names):
            # The first learner talks to the sentinel's SN node, the others to the second one.
            url = sentinel_url if i == 0 else sn_url
            learners.append(swarm.start_learner(name, url, TRAIN_MODULE, program_args, args.device))
        out.print(f"started {len(learners)} learners; training ...")
        model_dirs = {name: swarm.learner_dir(name) / "model" for name in names}
        progress = DemoProgress(out, sn_url, model_dirs, expected_steps(part_size, epochs))
        try:
            finished = swarm.wait(learners, LEARNER_TIMEOUT_S, on_tick=progress.tick)
        finally:
            progress.close()
        training_s = time.monotonic() - started
        failed = [p for p in learners if p.popen.returncode != 0]
        if not finished or failed:
            for p in failed or learners:
                print(f"\n--- {p.name} (exit {p.popen.returncode}) ---\n{p.log_tail()}", flush=True)
            print("swarm demo: FAILED (a learner did not finish)", file=sys.stderr)
            return 1
        results = {name: read_result(swarm, name) for name in names}
        if any(r is None for r in results.values()):
            print("swarm demo: FAILED (a learner wrote no result)", file=sys.stderr)
            return 1
        out.print("training one central model on all the data for comparison ...")
        import torch

        torch.set_num_threads(1)  # small model: more threads only add contention
        central = baseline_accuracy(
            X_train, y_train, X_test, y_test, epochs=epochs, seed=args.seed, device=args.device
        )
        code = _report(out, results, central, step_timings(swarm, names), training_s, work_dir)
        _plot(out, model_dirs, work_dir / PLOT_FILE)
        return code
    except KeyboardInterrupt:
        print("\nswarm demo: interrupted; stopping every node", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"swarm demo: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        swarm.stop()


def _plot(out: Console, model_dirs: dict[str, Path], path: Path) -> None:
    from swarm_learning.demo.plot import plot_learners  # matplotlib: only when it draws
    from swarm_learning.demo.step_rows import read_step_rows

    points = plot_learners({name: read_step_rows(d) for name, d in model_dirs.items()}, path)
    if points:
        out.print(f"plot of loss and accuracy per learner and step: {path}")
    else:
        out.print(f"the learners reported no loss or accuracy: {path} is empty")


def _report(
    out: Console,
    results: dict[str, Any],
    central: float,
    timings: dict[str, float],
    seconds: float,
    work_dir: Path,
) -> int:
    rows = [
        [
            name,
            f"{r['local_accuracy']:.3f}",
            f"{r['swarm_accuracy']:.3f}",
            r["sync_steps"],
            r["final_model_hash"][:16],
        ]
        for name, r in results.items()
    ]
    out.print()
    out.print(rich_table(["learner", "alone", "swarm", "steps", "final model hash"], rows))
    local_mean = statistics.mean(r["local_accuracy"] for r in results.values())
    swarm_mean = statistics.mean(r["swarm_accuracy"] for r in results.values())
    hashes = {r["final_model_hash"] for r in results.values()}
    out.print(
        f"\ncentral model (all data): {central:.3f}   swarm: {swarm_mean:.3f}"
        f"   learners alone (mean): {local_mean:.3f}"
    )
    if timings:
        out.print(
            f"median sync step: {timings['total_s'] * 1000:.0f} ms"
            f" (chain check-in {timings['check_in_s'] * 1000:.0f}, waiting/closing"
            f" {timings['wait_s'] * 1000:.0f}, transfer {timings['transfer_s'] * 1000:.0f},"
            f" merge {timings['merge_s'] * 1000:.0f})"
        )
    out.print(f"whole demo: {seconds:.1f} s; logs and models in {work_dir}")
    ok = True
    if len(hashes) != 1:
        print("FAILED: the learners ended with different models", file=sys.stderr)
        ok = False
    else:
        out.print("all learners hold the same final model")
    if central - swarm_mean > ACCURACY_TOLERANCE:
        out.print(f"note: swarm is {100 * (central - swarm_mean):.1f} pp below the central model")
    return 0 if ok else 1
