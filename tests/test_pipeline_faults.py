"""Pipeline faults with real processes: a worker killed mid-iteration (its `all` task goes on
with the quorum after the timeout), a tampered result (refused, recorded on chain, visible in
REST), a node joining mid-swarm (it takes part from a later iteration), and the holder of an
`any` task killed after claiming it (another node takes it over after the timeout)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pipeline_helpers import (
    FL_DIR,
    deploy,
    digits_datasets,
    get,
    pipeline_contract,
    start_node,
    wait_for,
    wait_status,
    wait_workers,
)

from swarm_learning.demo.local_swarm import LocalSwarm, NodeProcess

TIMEOUT_S = 8
ITERATIONS = 6
WORKER, AGGREGATOR = 0, 1


@pytest.fixture
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSwarm]:
    with LocalSwarm(work_dir=tmp_path_factory.mktemp("pipeline-faults")) as local:
        yield local


def _by_address(swarm: LocalSwarm, nodes: dict[str, NodeProcess]) -> dict[str, NodeProcess]:
    workers = get(swarm.sentinel_rest or "", "/v1/pipeline/workers")["workers"]
    by_dir = {}
    for name, process in nodes.items():
        key = (swarm.work_dir / name / "node.key").read_text().strip()
        from eth_account import Account

        by_dir[Account.from_key(key).address] = process
    assert set(by_dir) <= {w["address"] for w in workers}
    return by_dir


def test_kills_tampering_and_a_late_node(swarm: LocalSwarm) -> None:
    swarm.start_sentinel()
    data = digits_datasets(swarm.work_dir / "data", 4)
    nodes = {f"node{i}": start_node(swarm, f"node{i}", {"digits": data[i]}) for i in range(3)}
    wait_workers(swarm, 3)
    by_address = _by_address(swarm, nodes)
    swarm_id = deploy(
        swarm,
        f"{FL_DIR / 'digits_swarm.py'}:DigitsFLSwarm",
        {"epochs": 2, "threshold": 1.01, "max_iterations": ITERATIONS,
         "task_timeout_s": TIMEOUT_S},
    )  # fmt: skip
    contract = pipeline_contract(swarm)

    def open_iteration(k: int) -> bool:
        record = contract.pipeline(swarm_id)
        return record.open and record.iterations == k + 1

    # A worker killed mid-iteration: the others go on once the timeout has passed.
    wait_for("iteration 1", lambda: open_iteration(1), 120, swarm, interval_s=0.02)
    run = contract.run(swarm_id, 1, WORKER)
    victim = next(a for a in run.planned if a not in run.reporters)
    by_address[victim].kill()
    wait_for("iteration 2", lambda: open_iteration(2), 120, swarm, interval_s=0.2)
    after = contract.run(swarm_id, 1, WORKER)
    assert after.done and victim not in after.reporters and len(after.reporters) == 2
    assert contract.worker(victim).missed
    assert victim not in contract.run(swarm_id, 2, WORKER).planned

    # A tampered result: the node that joins now must fetch iteration 0's results afresh.
    tampered_node = next(a for a in contract.run(swarm_id, 0, WORKER).reporters if a != victim)
    tampered = contract.result(swarm_id, 0, WORKER, tampered_node).result_hash
    name = next(n for n, p in nodes.items() if p is by_address[tampered_node])
    (swarm.work_dir / name / "files" / str(tampered)).write_bytes(b'{"results": {}}')
    late = start_node(swarm, "late", {"digits": data[3]})
    wait_workers(swarm, 4)
    (late_address,) = late_by_address = _by_address(swarm, {"late": late})
    by_address.update(late_by_address)  # it may be the one to claim the aggregator (it was, in CI)

    def refused() -> list[dict]:
        doc = get(swarm.sentinel_rest or "", f"/v1/swarms/{swarm_id}")
        return [r for r in doc["refused_results"] if r["producer"] == tampered_node]

    (refusal,) = wait_for("the tampered result refused", refused, 120, swarm)
    assert refusal["refused_by"] == late_address and refusal["iteration"] == 0

    # The late node takes part from a later iteration.
    def late_worked() -> bool:
        record = contract.pipeline(swarm_id)
        return any(
            late_address in contract.run(swarm_id, k, WORKER).reporters
            for k in range(record.iterations)
        )

    wait_for("the late node to work", late_worked, 120, swarm)

    # The holder of the `any` aggregator killed after claiming it: taken over after the timeout.
    def held() -> tuple[int, str] | None:
        record = contract.pipeline(swarm_id)
        if not record.open:
            return None
        k = record.iterations - 1
        run = contract.run(swarm_id, k, AGGREGATOR)
        if run.holder and not run.done and run.holder in by_address and run.holder != victim:
            return k, run.holder
        return None

    k, holder = wait_for("an aggregator claim", held, 120, swarm, interval_s=0.02)
    by_address[holder].kill()
    final = wait_status(swarm, swarm_id, ("completed", "failed", "stopped"), 180)
    assert final["status"] == "completed" and final["iterations"] == ITERATIONS
    taken_over = contract.run(swarm_id, k, AGGREGATOR)
    assert taken_over.done and taken_over.holder not in (holder, None)
    assert holder not in taken_over.reporters and contract.worker(holder).missed
