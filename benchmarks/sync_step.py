"""Median sync-step time of a real swarm on this machine, split into chain (check-in),
waiting/closing (quorum wait + reads of the closed step), weight transfer and merge.

Runs the digits demo swarm (sentinel + SN + N learner processes) for each N given and prints
one row per N. Usage: python benchmarks/sync_step.py [--learners 2 3 4] [--epochs 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from swarm_learning.demo.digits_swarm import TRAIN_MODULE, prepare_learner_data
from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_network.text_table import table

KEYS = ("total_s", "check_in_s", "wait_s", "transfer_s", "merge_s")


def run_swarm(n_learners: int, epochs: int, work_dir: Path) -> tuple[dict[str, float], int, float]:
    names = [f"learner{i + 1}" for i in range(n_learners)]
    with LocalSwarm(work_dir=work_dir) as swarm:
        prepare_learner_data(swarm, names, seed=0)
        swarm.start_sentinel()
        sn_url = swarm.start_sn()
        started = time.monotonic()
        learners = [
            swarm.start_learner(
                name,
                swarm.sentinel_rest if i == 0 else sn_url,
                TRAIN_MODULE,
                ["--epochs", str(epochs), "--min-peers", "2"],
            )
            for i, name in enumerate(names)
        ]
        if not swarm.wait(learners, 900) or any(p.popen.returncode for p in learners):
            raise SystemExit(f"swarm of {n_learners} failed; logs in {work_dir}/logs")
        elapsed = time.monotonic() - started
    rows = []
    for name in names:
        path = work_dir / name / "model" / "sync_steps.jsonl"
        rows += [json.loads(line) for line in path.read_text().splitlines()]
    medians = {k: statistics.median(r[k] for r in rows) for k in KEYS}
    return medians, max(r["step"] for r in rows) + 1, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    out = []
    for n in args.learners:
        with tempfile.TemporaryDirectory(prefix=f"bench-sync-{n}-") as tmp:
            medians, steps, elapsed = run_swarm(n, args.epochs, Path(tmp))
        out.append([n, steps, f"{elapsed:.1f}"] + [f"{medians[k] * 1000:.0f}" for k in KEYS])
        print(f"done: {n} learners", file=sys.stderr, flush=True)
    print(
        table(
            ["learners", "steps", "wall s", "step ms", "chain", "wait+close", "transfer", "merge"],
            out,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
