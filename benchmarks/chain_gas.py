"""Gas per check-in, close and report against the number of enrolled learners.

Why: every learner sends one check-in per sync step, and a swarm of hospitals grows. If the
contract walked every enrolled node on each of them (it once did, to count the live
learners), a step of P learners would cost O(P^2) gas and a check-in would hit the block's
gas limit somewhere in the hundreds. The contract keeps its counts incrementally instead
(docs/ARCHITECTURE.md, "The contract's state machine"), so each figure here should stay flat
from 4 to 64 learners.

What runs: for each P, a fresh SwarmLearning contract with P enrolled learners on the
embedded chain (in this process, behind its real JSON-RPC server), and the two-step scenario
of `tests/gas_scenario.py` (the same one `tests/test_contract_gas.py` asserts on). Gas does
not depend on the chain's speed or load: the figures are exact and the same on any EVM of
the same fork (anvil gives the same numbers).

Prints one table: the largest gasUsed of each kind of transaction, per P, and the ratio of
the largest P to the smallest. Takes about a minute for 4..64 (P x 5 transactions each).

Usage: python benchmarks/chain_gas.py [--learners 4 8 16 32 64]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# tests/ is not a package: its helpers (the chain fixtures and the scenario) are loaded from
# there, so the benchmark measures exactly what the test asserts on.
sys.path.insert(0, str(ROOT / "tests"))

from chain_helpers import deploy_swarm, run_chain  # noqa: E402
from gas_scenario import KINDS, GasFigures, measure_gas  # noqa: E402

from swarm_network.text_table import table  # noqa: E402


def measure(sizes: list[int], chain: str) -> list[GasFigures]:
    figures = []
    with run_chain(chain) as endpoint:
        for p in sizes:
            figures.append(measure_gas(deploy_swarm(endpoint, learners=p)))
            print(f"  P = {p}: done", file=sys.stderr)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--chain", choices=("embedded", "anvil"), default="embedded")
    args = parser.parse_args()
    if min(args.learners) < 3:
        parser.error("--learners: the scenario needs at least 3 learners")
    figures = measure(sorted(args.learners), args.chain)
    rows: list[list[object]] = [[f.learners, *(f.gas[k] for k in KINDS)] for f in figures]
    first, last = figures[0], figures[-1]
    rows.append(
        [
            f"{last.learners} / {first.learners}",
            *(f"{last.gas[k] / first.gas[k]:.2f}x" for k in KINDS),
        ]
    )
    print(f"gas used (largest of each kind), {args.chain} chain")
    print(table(["learners", *KINDS], rows))


if __name__ == "__main__":
    main()
