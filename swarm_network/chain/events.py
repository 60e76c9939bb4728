"""The contract's events a learner waits on, decoded from standard JSON-RPC log objects:
who checked in for which step with which file, and which step closed. Topics are derived
from the contract's ABI, so they follow the contract if an event's signature changes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from web3 import Web3

from contracts import load_artifact
from swarm_network.chain.reverts import CONTRACT_NAME


@dataclass(frozen=True)
class CheckedIn:
    step: int
    node: str  # checksum address
    weight_hash: str  # 64 lowercase hex characters


@dataclass(frozen=True)
class StepClosed:
    step: int


ChainEvent = CheckedIn | StepClosed


@cache
def _topic(name: str) -> str:
    """0x-hex keccak of the event's canonical signature, as it appears in topics[0]."""
    for entry in load_artifact(CONTRACT_NAME)["abi"]:
        if entry.get("type") == "event" and entry["name"] == name:
            types = ",".join(arg["type"] for arg in entry["inputs"])
            return "0x" + Web3.keccak(text=f"{name}({types})").hex().removeprefix("0x")
    raise LookupError(f"{CONTRACT_NAME} has no event {name}")


def decode_events(logs: list[dict[str, Any]]) -> list[ChainEvent]:
    """The CheckedIn and StepClosed events among `logs`, in order; other logs are skipped."""
    events: list[ChainEvent] = []
    for entry in logs:
        topics = [str(t).lower() for t in entry.get("topics", [])]
        if not topics or entry.get("removed"):
            continue
        if topics[0] == _topic("CheckedIn") and len(topics) == 3:
            data = str(entry.get("data", "")).removeprefix("0x")
            events.append(
                CheckedIn(
                    step=int(topics[1], 16),
                    node=Web3.to_checksum_address("0x" + topics[2][-40:]),
                    weight_hash=data[:64],
                )
            )
        elif topics[0] == _topic("StepClosed") and len(topics) == 2:
            events.append(StepClosed(step=int(topics[1], 16)))
    return events
