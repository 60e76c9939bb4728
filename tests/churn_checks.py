"""What the churn scenarios' records must show, shared by their test files. Not a test module."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from churn_helpers import GRACE_S, MARGIN_S, ChainRecord, Churn, sha256_of

from swarm_network.chain.records import Contribution


def report(scenario: str, **figures: Any) -> None:
    """The figures a test measured, for people (shown with `pytest -s`)."""
    print(f"\n[{scenario}] " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def assert_agreement(
    run: Churn, nodes: list[str], chain: ChainRecord, last_step: int | None = None
) -> str:
    """Every learner that finished holds bit-identical final models, the agreed merge of the
    training's last step (`last_step`, default the last closed one)."""
    hashes = {}
    for node in nodes:
        result = run.result(node)
        assert result is not None, f"{node} wrote no result"
        final = run.model_dir(node) / "final_model.safetensors"
        assert sha256_of(final) == result["final_model_hash"], node
        hashes[node] = result["final_model_hash"]
    assert len(set(hashes.values())) == 1, hashes
    final_hash = next(iter(hashes.values()))
    if last_step is None:
        last_step = max(k for k in chain.steps if chain.steps[k].closed)
    assert chain.steps[last_step].agreed_hash == final_hash, last_step
    return final_hash


# ---------------------------------------------------------------------------------- dropout


def assert_closed_within_grace(chain: ChainRecord) -> dict[int, int]:
    """Every step after the first closed at most the grace period after its quorum was in
    (block timestamps: whole seconds, so one more; and MARGIN_S for closing under load)
    whoever was missing. Returns each step's delay."""
    delays = {}
    for k in range(1, chain.current_step):
        step = chain.steps[k]
        assert step.closed and step.quorum_at is not None and step.closed_at is not None, k
        delays[k] = step.closed_at - step.quorum_at
        assert delays[k] <= GRACE_S + MARGIN_S, (k, delays[k])
    return delays


def log_times_since(run: Churn, node: str, since: float) -> dict[str, float]:
    """Seconds from `since` (wall clock) to the milestones in `node`'s log after it: where the
    time from a (re)start to the first check-in goes."""
    milestones = {
        "joined": "joined the swarm",
        "behind": "catching up",
        "adopted": "adopted agreed model",
        "first_merge": " merged ",
    }
    found: dict[str, float] = {}
    for line in run.sw_log(node).splitlines():
        try:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            continue
        if stamp < since:
            continue
        for name, text in milestones.items():
            if name not in found and text in line:
                found[name] = round(stamp - since, 2)
    return found


def adopted_after_start(run: Churn, node: str) -> tuple[str, int]:
    """(hash prefix, step) of the agreed model `node` started from after it (re)joined the
    swarm last: the last one it adopted before its first merge (it catches up again if the
    swarm moved on too far while it was fetching), from its log."""
    log = run.sw_log(node)
    since_start = log[max(log.rfind("joined the swarm"), 0) :]
    first_merge = since_start.find(" merged ")
    before_merge = since_start if first_merge < 0 else since_start[:first_merge]
    found = re.findall(r"adopted agreed model ([0-9a-f]{12}) of step (\d+)", before_merge)
    assert found, f"{node} logged no catch-up after it (re)joined"
    prefix, step = found[-1]
    return prefix, int(step)


def assert_first_check_in_on_adopted_model(
    run: Churn, chain: ChainRecord, node: str, address: str, k: int
) -> Contribution:
    """`node`'s check-in for step k is based on the agreed model it fetched (hash-checked into
    its store) when it caught up: that of step k-1, or of an older step if the swarm moved on
    while it was fetching, which the chain then records as staleness."""
    prefix, j = adopted_after_start(run, node)
    agreed = chain.steps[j].agreed_hash
    assert agreed is not None and agreed.startswith(prefix)
    assert sha256_of(run.node_dirs[node] / "files" / agreed) == agreed
    contribution = chain.contribution(k, address)
    assert contribution is not None
    assert contribution.base_hash == agreed
    assert contribution.staleness == k - 1 - j <= 2, (contribution, j)
    return contribution


def assert_merged_by_everyone(chain: ChainRecord, address: str, steps: range) -> None:
    """No participant left `address`'s contribution out of its merge in `steps`."""
    for k in steps:
        order = list(chain.steps[k].participants)
        if address not in order:
            continue
        for c in chain.contributions[k]:
            assert address not in c.rejected(order), (k, c.address)
