"""Contract events -> the live events of `/v1/stream`. Pure functions, so the event names and
fields (documented in the OpenAPI document) live in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from swarm_network.chain.logs import ContractEvent
from swarm_network.chain.records import ROLE_NAMES

#: the contract event's argument that names the node it is about, when there is one
ACTOR_ARG = {
    "NodeEnrolled": "node",
    "FileUrlChanged": "node",
    "CheckedIn": "node",
    "NodeRejoined": "node",
    "MergeReported": "node",
    "NodeFinished": "node",
}


def actor(event: ContractEvent) -> str | None:
    name = ACTOR_ARG.get(event.name)
    return None if name is None else str(event.args[name])


def live_events(
    event: ContractEvent, time: int | None, participants: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """The live event(s) for one contract event. `participants`: the step's participants in
    contract order, which the bits of a rejected mask refer to."""
    a = event.args
    where = {"block": event.block_number, "time": time}
    if event.name == "NodeEnrolled":
        role = ROLE_NAMES.get(int(a["role"]), "unknown")
        doc = {"address": a["node"], "role": role, "file_url": a["fileUrl"], "step": a["atStep"]}
        return [("enrolled", {**doc, **where})]
    if event.name == "FileUrlChanged":
        return [("file_url", {"address": a["node"], "file_url": a["fileUrl"], **where})]
    if event.name == "TrainingConfigured":
        doc = {
            "min_peers": a["minPeers"],
            "grace_seconds": a["graceSeconds"],
            "max_staleness": a["maxStaleness"],
            "merge_method": a["mergeMethod"],
            "merge_params": a["mergeParams"],
        }
        return [("configured", {**doc, **where})]
    if event.name == "CheckedIn":
        doc = {
            "step": a["step"],
            "address": a["node"],
            "weight_hash": a["weightHash"],
            "base_hash": a["baseHash"],
            "weightage": a["weightage"],
            "staleness": a["staleness"],
        }
        return [("check_in", {**doc, **where})]
    if event.name == "NodeRejoined":
        return [("rejoined", {"address": a["node"], "step": a["step"], **where})]
    if event.name == "QuorumReached":
        return [("quorum", {"step": a["step"], "at": a["at"], **where})]
    if event.name == "StepClosed":
        doc = {"step": a["step"], "participants": a["participants"], "at": a["at"]}
        return [("close", {**doc, **where})]
    if event.name == "MergeReported":
        mask = int(a["rejectedMask"])
        refused = [p for i, p in enumerate(participants) if mask >> i & 1]
        report = {"step": a["step"], "address": a["node"], "merged_hash": a["mergedHash"]}
        out = [("merge_report", {**report, "refused": refused, **where})]
        if refused:
            out.append(
                ("refusal", {"step": a["step"], "by": a["node"], "refused": refused, **where})
            )
        return out
    if event.name == "MergeAgreed":
        doc = {"step": a["step"], "merged_hash": a["mergedHash"], "votes": a["votes"]}
        return [("agreement", {**doc, **where})]
    if event.name == "NodeFinished":
        last = int(a["lastStep"])
        doc = {"address": a["node"], "last_step": last - 1 if last > 0 else None}
        return [("finished", {**doc, **where})]
    if event.name == "TrainingFinished":
        return [("ended", {"open_step": a["openStep"], **where})]
    return []
