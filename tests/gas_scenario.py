"""Gas of the contract's steady-state transactions with P enrolled learners. Not a test module.

Shared by `tests/test_contract_gas.py` (which asserts the gas does not grow with P) and
`benchmarks/chain_gas.py` (which prints it), so that both measure the same transactions.

One swarm of P learners runs two steps with `min_peers` 2 and no grace period:

- step 0: every learner checks in (`check-in`); the last one is in the same transaction as
  the close (`closing check-in`: every live learner is in);
- step 1: all but the last learner check in, each check-in doubling as its report of step 0's
  merge (`check-in + report`); the last learner reports step 0 with `reportMerge` (`report`)
  and stays out, so the step is closed by `closeStep` once the grace period is over (`close`);
  each participant then reports step 1 with `reportMerge`.

Figures are the receipts' `gasUsed`; the per-kind figure is the largest of that kind (the
worst case: a walk over the nodes would show most in the transaction that walks furthest).
"""

from __future__ import annotations

from dataclasses import dataclass

from chain_helpers import ZERO_HASH, DeployedSwarm, h

from swarm_network.chain.records import hex_to_hash

KINDS = ("check-in", "closing check-in", "check-in + report", "report", "close")


@dataclass(frozen=True)
class GasFigures:
    """The largest gasUsed of each kind of transaction (`KINDS`) with `learners` enrolled."""

    learners: int
    gas: dict[str, int]


def _check_in(swarm: DeployedSwarm, i: int, step: int, base: str) -> int:
    receipt = swarm.learners[i].transact(
        "checkIn",
        step,
        hex_to_hash(h(f"weights-{i}-{step}")),
        10,
        hex_to_hash(base),
        0,
        dry_run=False,
    )
    return int(receipt["gasUsed"])


def _report(swarm: DeployedSwarm, i: int, step: int, merged: str) -> int:
    receipt = swarm.learners[i].transact("reportMerge", step, hex_to_hash(merged), 0, dry_run=False)
    return int(receipt["gasUsed"])


def measure_gas(swarm: DeployedSwarm) -> GasFigures:
    """Run the two steps above on `swarm` (fresh: enrolled learners, training not configured;
    at least 3 learners) and return the gas of each kind of transaction."""
    p = len(swarm.learners)
    if p < 3:
        raise ValueError("the scenario needs at least 3 learners")
    swarm.configure(min_peers=2, grace_seconds=0)
    m0, m1 = h("merged-0"), h("merged-1")
    gas: dict[str, list[int]] = {kind: [] for kind in KINDS}

    for i in range(p):
        kind = "closing check-in" if i == p - 1 else "check-in"
        gas[kind].append(_check_in(swarm, i, 0, ZERO_HASH))
    if not swarm.admin.step(0).closed:
        raise AssertionError("step 0 did not close with every learner in")

    for i in range(p - 1):
        gas["check-in + report"].append(_check_in(swarm, i, 1, m0))
    gas["report"].append(_report(swarm, p - 1, 0, m0))
    receipt = swarm.admin.transact("closeStep", 1)
    gas["close"].append(int(receipt["gasUsed"]))
    for i in range(p - 1):
        gas["report"].append(_report(swarm, i, 1, m1))
    if swarm.admin.step(1).agreed_hash != m1:
        raise AssertionError("step 1's merge was not agreed")
    return GasFigures(learners=p, gas={kind: max(values) for kind, values in gas.items()})
