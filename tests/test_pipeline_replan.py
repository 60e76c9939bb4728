"""The pipeline contract's plans are made when an iteration starts; a node that dies after
that may be the only node planned for a later `all` task of the same iteration (in the
document's FLSwarm: the scheduler, `maximum=1`). Once that task's timeout has passed,
`closeTask` plans it again without the silent node, instead of refusing for want of a quorum
and holding the pipeline forever. On both chains (the contract suite's fixture)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from chain_helpers import DEPLOY_GAS, DeployedSwarm, h

from swarm_network.errors import ContractRevert
from swarm_network.pipeline.chain import CONTRACT_NAME, PipelineContract
from swarm_network.pipeline.records import METHOD_IDS, Decision

TIMEOUT_S = 2
WORKER, SCHEDULER = 0, 1


def _pipeline(swarm: DeployedSwarm, workers: int) -> tuple[list[PipelineContract], int]:
    """`workers` registered nodes and a pipeline of two `all` tasks: a worker on every node,
    then a scheduler (sink) on one node, after the worker."""
    address = swarm.admin.deploy_beside(CONTRACT_NAME, swarm.admin.address, gas=DEPLOY_GAS)
    nodes = [PipelineContract.beside(learner, address) for learner in swarm.learners[:workers]]
    for node in nodes:
        node.register_worker([])
    # TaskInput: method, agree, fixed, quorum, max_count, max_fraction, deps, datasets
    every = (METHOD_IDS["all"], False, False, 1, 0, 0, 0, [])
    one = (METHOD_IDS["all"], False, False, 1, 1, 0, 1 << WORKER, [])
    pipeline_id = nodes[0].deploy_pipeline(
        manifest_hash=h("manifest"),
        name="replan",
        tasks=[every, one],
        sinks=[SCHEDULER],
        task_timeout_s=TIMEOUT_S,
        max_iterations=0,
    )
    nodes[0].start_iteration(pipeline_id)
    return nodes, pipeline_id


def _me(node: PipelineContract) -> str:
    assert node.account is not None
    return str(node.account.address)


def _submit(node: PipelineContract, pipeline_id: int, task: int) -> None:
    node.submit_result(
        pipeline_id, 0, task, result_hash=h(f"{_me(node)}-{task}"), log_hash=None,
        decision=Decision(),
    )  # fmt: skip


def _past_timeout(
    swarm: DeployedSwarm, node: PipelineContract, pipeline_id: int, task: int
) -> None:
    swarm.next_block_at_least(node.run(pipeline_id, 0, task).ready_at + TIMEOUT_S)


def test_an_all_task_whose_only_node_died_is_planned_again(
    swarm_factory: Callable[..., DeployedSwarm],
) -> None:
    swarm = swarm_factory(learners=3)
    nodes, pipeline_id = _pipeline(swarm, 3)
    by_address = {_me(node): node for node in nodes}
    (dead,) = nodes[0].run(pipeline_id, 0, SCHEDULER).planned
    alive = [node for node in nodes if _me(node) != dead]
    for node in alive:  # the planned scheduler died before its worker task reported
        _submit(node, pipeline_id, WORKER)
    _past_timeout(swarm, alive[0], pipeline_id, WORKER)
    alive[0].close_task(pipeline_id, 0, WORKER)
    assert nodes[0].worker(dead).missed

    _past_timeout(swarm, alive[0], pipeline_id, SCHEDULER)
    alive[1].close_task(pipeline_id, 0, SCHEDULER)
    run = nodes[0].run(pipeline_id, 0, SCHEDULER)
    assert not run.done and len(run.planned) == 1 and run.planned[0] != dead
    with pytest.raises(ContractRevert, match="timeout has not passed"):
        alive[0].close_task(pipeline_id, 0, SCHEDULER)  # the timeout starts again
    with pytest.raises(ContractRevert, match="not planned"):
        by_address[dead].submit_result(
            pipeline_id, 0, SCHEDULER, result_hash=h("late"), log_hash=None, decision=Decision()
        )
    _submit(by_address[run.planned[0]], pipeline_id, SCHEDULER)
    assert nodes[0].run(pipeline_id, 0, SCHEDULER).done
    assert not nodes[0].pipeline(pipeline_id).open  # the iteration is done


def test_without_another_eligible_node_the_task_waits(
    swarm_factory: Callable[..., DeployedSwarm],
) -> None:
    swarm = swarm_factory(learners=1)
    (node,), pipeline_id = _pipeline(swarm, 1)
    _submit(node, pipeline_id, WORKER)  # it reported its worker task, then went silent
    _past_timeout(swarm, node, pipeline_id, SCHEDULER)
    with pytest.raises(ContractRevert, match="no other eligible worker"):
        node.close_task(pipeline_id, 0, SCHEDULER)
    run = node.run(pipeline_id, 0, SCHEDULER)
    assert run.planned == (_me(node),) and not run.done
    assert not node.worker(_me(node)).missed  # the refusal changed nothing
