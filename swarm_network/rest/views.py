"""Chain records -> the JSON documents of the REST API. Pure functions, so the field names
(which are a public, documented contract) live in one place and tests can pin them."""

from __future__ import annotations

from typing import Any

from swarm_network.chain.records import Contribution, NodeRecord, StepRecord, SwarmSummary

STATE_NOT_STARTED = "not_started"
STATE_TRAINING = "training"
STATE_WAITING = "waiting_for_quorum"
STATE_DONE = "done"


def learner_status(node: NodeRecord, current_step: int, checked_in: set[str]) -> str:
    """What a learner is doing, from chain facts alone.

    - finished: it called finish() after its last merge
    - rejoined: came back after missing steps, in the open step or the one before
    - waiting: checked in for the open step, waiting for the step to close
    - active: took part in the previous step (training towards the open one)
    - joined: enrolled, has not checked in yet
    - dropped: missed at least one whole step (the swarm no longer waits for it)
    """
    if node.finished:
        return "finished"
    if node.rejoined_at_step is not None and node.rejoined_at_step + 1 >= current_step:
        return "rejoined"
    if node.address in checked_in:
        return "waiting"
    if node.last_step is None:
        return "joined" if node.enrolled_at_step + 1 >= current_step else "dropped"
    return "active" if node.last_step + 1 >= current_step else "dropped"


def node_json(node: NodeRecord, current_step: int, checked_in: set[str]) -> dict[str, Any]:
    status = "online" if node.role == "network" else learner_status(node, current_step, checked_in)
    return {
        "address": node.address,
        "role": node.role,
        "file_url": node.file_url,
        "enrolled_at_step": node.enrolled_at_step,
        "last_step": node.last_step,
        "status": status,
    }


def training_state(summary: SwarmSummary) -> str:
    if not summary.config.configured:
        return STATE_NOT_STARTED
    if summary.training_ended or (
        summary.learner_count > 0 and summary.finished_count == summary.learner_count
    ):
        return STATE_DONE
    in_open_step = len(summary.open_step.participants)
    if 0 < in_open_step < summary.effective_quorum:
        return STATE_WAITING
    return STATE_TRAINING


def training_json(summary: SwarmSummary, nodes: list[NodeRecord]) -> dict[str, Any]:
    open_step = summary.open_step
    checked_in = set(open_step.participants)
    learners = [n for n in nodes if n.role == "learner"]
    missing = [
        n.address
        for n in learners
        if n.address not in checked_in
        and learner_status(n, summary.current_step, checked_in) in ("active", "joined")
    ]
    return {
        "state": training_state(summary),
        "configured": summary.config.configured,
        "min_peers": summary.config.min_peers,
        "effective_quorum": summary.effective_quorum,
        "grace_seconds": summary.config.grace_seconds,
        "max_staleness": summary.config.max_staleness,
        "merge_method": summary.config.merge_method,
        "merge_params": summary.config.merge_params,
        "current_step": summary.current_step,
        "checked_in": len(checked_in),
        "live_learners": summary.live_learners,
        "learners": summary.learner_count,
        "finished_learners": summary.finished_count,
        "waiting_for": missing,
        "block_number": summary.block_number,
    }


def contribution_json(c: Contribution, rejected_by: list[str]) -> dict[str, Any]:
    return {
        "address": c.address,
        "weight_hash": c.weight_hash,
        "base_hash": c.base_hash,
        "weightage": c.weightage,
        "staleness": c.staleness,
        "merged_hash": c.merged_hash,
        "rejected_by": rejected_by,
    }


def step_json(step: StepRecord, contributions: list[Contribution]) -> dict[str, Any]:
    reported = [c.merged_hash for c in contributions if c.merged_hash]
    order = [c.address for c in contributions]
    rejected = {c.address: set(c.rejected(order)) for c in contributions}
    return {
        "step": step.step,
        "closed": step.closed,
        "opened_at": step.opened_at,
        "quorum_at": step.quorum_at,
        "closed_at": step.closed_at,
        "agreed_hash": step.agreed_hash,
        "conflicting_hashes": sorted(set(reported) - {step.agreed_hash}) if reported else [],
        "participants": [
            contribution_json(
                c, [r.address for r in contributions if c.address in rejected[r.address]]
            )
            for c in contributions
        ],
    }
