"""Our sync round against Flower's, the same user program on both sides, in one run.

3 learners on the non-IID digits, an MLP sized for each parameter count, SGD 0.05 momentum
0.9, batch 32, one local epoch per round, sample-weighted mean (`benchmarks/wire/task.py`).
Ours: one sync per local epoch, `min_peers` = 3, embedded chain, sentinel + SN node + 3
learner processes. Flower: its legacy `start_server`/`start_client` over gRPC (its fastest
mode here), 1 server + 3 client processes. Both sides alternate, `--repeats` times per size;
each figure is the median over repeats of each run's median steady round.

Overhead = round - the slowest participant's own training in that round. Ours is split into
check-in / wait / transfer / merge (medians of `sync_steps.jsonl`). Transactions are counted
from the chain by contract function. The floor of a step (encode + hash one model, P-1
verified downloads, the weighted mean) is measured in the same run.

Needs Flower: ``pip install -e '.[bench]'``. Offline, set nothing: this sets
FLWR_TELEMETRY_ENABLED=0 and FLWR_DISABLE_UPDATE_CHECK=1 for Flower's processes.

`--chain anvil`: ours on anvil (the pinned binary of `tests/anvil/`) instead of the embedded
chain, the sentinel deploying there with `--chain-url`; one fresh anvil per run.

Usage: python benchmarks/vs_flower.py [--params 17000 1000000 10000000] [--repeats 3]
       [--rounds 6] [--chain embedded|anvil]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.wire.anvil import anvil_chain
from benchmarks.wire.floors import step_floor
from benchmarks.wire.runs import PARTS, RunResult, run_flower, run_ours
from swarm_network.text_table import table


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def size_name(params: int) -> str:
    return f"{params / 1e6:g} M" if params >= 1_000_000 else f"{params / 1e3:g} k"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=int, nargs="+", default=[17_000, 1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--chain", choices=("embedded", "anvil"), default="embedded")
    args = parser.parse_args()
    rows, details = [], []
    for params in args.params:
        flower: list[RunResult] = []
        ours: list[RunResult] = []
        for repeat in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix=f"vs-flower-{params}-{repeat}-") as tmp:
                flower.append(run_flower(params, args.rounds, Path(tmp) / "flower"))
                with anvil_chain() if args.chain == "anvil" else contextlib.nullcontext() as url:
                    ours.append(run_ours(params, args.rounds, Path(tmp) / "ours", url))
            print(f"done: {size_name(params)} repeat {repeat + 1}", file=sys.stderr, flush=True)
        floor = step_floor(params, PARTS)
        f_round = statistics.median(r.round_s for r in flower)
        f_over = statistics.median(r.overhead_s for r in flower)
        o_round = statistics.median(r.round_s for r in ours)
        o_over = statistics.median(r.overhead_s for r in ours)
        split = {k: statistics.median(r.split[k] for r in ours) for k in ours[0].split}
        rows.append([
            size_name(params),
            f"{ms(f_round)} / {ms(f_over)}",
            f"{ms(o_round)} / {ms(o_over)}",
            f"{o_round / f_round:.2f}",
            " / ".join(ms(split[k]) for k in ("check_in_s", "wait_s", "transfer_s", "merge_s")),
            f"{ms(floor['floor_s'])} ({o_over / floor['floor_s']:.1f}x)",
            f"{statistics.median(r.accuracy for r in flower):.3f} / "
            f"{statistics.median(r.accuracy for r in ours):.3f}",
        ])  # fmt: skip
        last = ours[-1]
        details.append(
            f"{size_name(params)}: floor parts (ms) "
            + ", ".join(f"{k} {ms(v)}" for k, v in floor.items())
            + f"; our last run's transactions over {last.steps} steps: {last.transactions}"
        )
        print(
            f"{rows[-1]}\n{details[-1]}", file=sys.stderr, flush=True
        )  # in case a later size fails
    print(
        table(
            [
                "params",
                "Flower round / overhead ms",
                "ours round / overhead ms",
                "ours/Flower",
                "ours: check-in / wait / transfer / merge ms",
                "step floor ms (overhead/floor)",
                "accuracy Flower / ours",
            ],
            rows,
        )  # fmt: skip
    )
    print("\n".join(details))
    return 0


if __name__ == "__main__":
    sys.exit(main())
