"""The contract's refusals, decoded in one place: revert data -> the custom error's name and
arguments (from the ABI) -> an exception type of `swarm_network.errors` with a readable reason.

Every refusal of `SwarmLearning.sol` is a Solidity custom error, so nothing here matches
message text. `REFUSALS` is the one table: for each error, the exception the protocol acts on
and the sentence shown in logs, REST answers and CLI messages, followed by the error's
arguments (e.g. "step is not open (step 4; open step 5)").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from contracts import load_artifact
from swarm_network.errors import (
    AlreadyCheckedIn,
    AlreadyConfigured,
    ContractRevert,
    StaleBase,
    StepNotOpen,
    TrainingEnded,
)

CONTRACT_NAME = "SwarmLearning"
ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string), from require(..., "text")
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256), from a failed assert or overflow


@dataclass(frozen=True)
class Refusal:
    """How one custom error is raised: its exception type, the sentence that says what was
    refused, and a format string over the error's ABI argument names for the values."""

    exception: type[ContractRevert]
    text: str
    details: str = ""


REFUSALS: dict[str, Refusal] = {
    "OnlySentinel": Refusal(ContractRevert, "only the sentinel may do this", "caller {caller}"),
    "NotEnrolled": Refusal(ContractRevert, "node is not enrolled", "caller {caller}"),
    "NotALearner": Refusal(ContractRevert, "node is not an enrolled learner", "caller {caller}"),
    "ZeroAddress": Refusal(ContractRevert, "zero address"),
    "UnknownRole": Refusal(ContractRevert, "unknown role", "role {role}"),
    "AlreadyEnrolled": Refusal(ContractRevert, "node is already enrolled", "node {node}"),
    "AlreadyConfigured": Refusal(AlreadyConfigured, "training is already configured"),
    "MinPeersTooLow": Refusal(ContractRevert, "min_peers must be at least 1", "got {minPeers}"),
    "EmptyMergeMethod": Refusal(ContractRevert, "merge method is empty"),
    "NotConfigured": Refusal(ContractRevert, "training is not configured"),
    "NodeHasFinished": Refusal(ContractRevert, "node has finished training", "node {node}"),
    "AlreadyFinished": Refusal(ContractRevert, "node has already finished", "node {node}"),
    "StepNotOpen": Refusal(StepNotOpen, "step is not open", "step {step}; open step {openStep}"),
    "ZeroWeightHash": Refusal(ContractRevert, "weight hash is zero"),
    "ZeroWeightage": Refusal(ContractRevert, "weightage must be positive"),
    "AlreadyCheckedIn": Refusal(
        AlreadyCheckedIn, "already checked in for this step", "step {step}; node {node}"
    ),
    "StaleBaseAtStepZero": Refusal(
        StaleBase, "stale base: step 0 starts from no merged model", "base {baseHash}"
    ),
    "StaleBaseMissing": Refusal(
        StaleBase, "stale base: catch up from the agreed model first", "step {step}"
    ),
    "StaleBaseUnsettled": Refusal(
        StaleBase,
        "stale base: previous merge is not agreed yet",
        "step {step}; base {baseHash}",
    ),
    "StaleBaseNotAgreed": Refusal(
        StaleBase,
        "stale base: not the agreed model of the previous step",
        "step {step}; base {baseHash}; agreed {agreedHash}",
    ),
    "QuorumNotReached": Refusal(
        ContractRevert, "quorum not reached", "step {step}; {checkedIn} of {quorum} checked in"
    ),
    "PreviousMergeNotAgreed": Refusal(
        ContractRevert, "merge of the previous step is not agreed yet", "step {step}"
    ),
    "GracePeriodNotOver": Refusal(
        ContractRevert, "grace period is not over", "step {step}; ends at {endsAt}"
    ),
    "StepNotClosed": Refusal(ContractRevert, "step is not closed", "step {step}"),
    "NotAParticipant": Refusal(
        ContractRevert, "node did not take part in this step", "step {step}; node {node}"
    ),
    "MergeAlreadyReported": Refusal(
        ContractRevert, "merge already reported", "step {step}; node {node}"
    ),
    "MergeAlreadyAgreed": Refusal(ContractRevert, "merge already agreed", "step {step}"),
    "NoMajorityYet": Refusal(
        ContractRevert,
        "merge not settled yet (no report, or its grace period is not over)",
        "step {step}",
    ),
    "ZeroMergedHash": Refusal(ContractRevert, "merged hash is zero"),
    "TrainingEnded": Refusal(TrainingEnded, "the training has ended", "step {openStep} never ran"),
    "SyncAlreadyConfigured": Refusal(AlreadyConfigured, "sync is already configured"),
    "SyncFrequencyTooLow": Refusal(
        ContractRevert, "sync frequency must be at least 1", "got {syncFrequency}"
    ),
    "AlreadyStopped": Refusal(ContractRevert, "node has already stopped", "node {node}"),
    "ValidationClosed": Refusal(
        ContractRevert, "the next step has closed: validation figures are final", "step {step}"
    ),
    "ValidationAlreadyReported": Refusal(
        ContractRevert, "validation already reported", "step {step}; node {node}"
    ),
    "BadSharding": Refusal(
        ContractRevert,
        "a sharded merge needs at least 2 shards and 1 merger per shard",
        "{shards} shards, replication {replication}",
    ),
    "ShardsAlreadyReported": Refusal(
        ContractRevert, "merged shards already reported", "step {step}; node {node}"
    ),
    "TrainingNameTaken": Refusal(
        ContractRevert, "a training of that name exists already", "name {name!r}"
    ),
}


@dataclass(frozen=True)
class ErrorSpec:
    """One custom error of the ABI: its name and its arguments' names and ABI types."""

    name: str
    names: tuple[str, ...]
    types: tuple[str, ...]


def _signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"


@cache
def contract_errors() -> dict[bytes, ErrorSpec]:
    """The contract's custom errors by 4-byte selector, read from the committed ABI."""
    specs = {}
    for entry in load_artifact(CONTRACT_NAME)["abi"]:
        if entry["type"] == "error":
            selector = keccak(text=_signature(entry))[:4]
            specs[selector] = ErrorSpec(
                name=entry["name"],
                names=tuple(i["name"] for i in entry["inputs"]),
                types=tuple(i["type"] for i in entry["inputs"]),
            )
    return specs


def _readable(abi_type: str, value: object) -> object:
    """Hashes as the 64 hex characters logs and file names use, addresses checksummed."""
    if abi_type == "address":
        return to_checksum_address(str(value))
    if isinstance(value, bytes):
        return value.hex()
    return value


def revert_error(data: bytes) -> ContractRevert:
    """The one place revert data becomes an exception: the contract's custom error as its type
    (see REFUSALS); a revert string or a panic as a plain ContractRevert."""
    selector, payload = data[:4], data[4:]
    spec = contract_errors().get(selector)
    try:
        if spec is not None:
            values = abi_decode(list(spec.types), payload)
            arguments = {
                name: _readable(abi_type, value)
                for name, abi_type, value in zip(spec.names, spec.types, values, strict=True)
            }
            return _refusal(spec.name, arguments)
        if selector == ERROR_STRING_SELECTOR:
            (text,) = abi_decode(["string"], payload)
            return ContractRevert(str(text))
        if selector == PANIC_SELECTOR:
            (code,) = abi_decode(["uint256"], payload)
            return ContractRevert(f"panic code {code:#04x}")
    except (DecodingError, OverflowError, UnicodeDecodeError):
        return ContractRevert(f"undecodable revert data 0x{data.hex()}")
    if not data:
        return ContractRevert("execution reverted without data")
    return ContractRevert(f"unknown contract error 0x{selector.hex()} (data 0x{data.hex()})")


def _refusal(name: str, arguments: dict[str, object]) -> ContractRevert:
    refusal = REFUSALS[name]  # every error of the ABI has its entry (a test checks)
    reason = refusal.text
    if refusal.details:
        reason += f" ({refusal.details.format(**arguments)})"
    return refusal.exception(reason, error=name, arguments=arguments)


def hex_revert_data(value: object) -> bytes | None:
    """Revert data carried as 0x-hex text (a JSON-RPC error's `data`, a receipt's
    `revertReason`, possibly behind a "Reverted " prefix); None if `value` holds none."""
    if not isinstance(value, str):
        return None
    text = value.removeprefix("Reverted ").strip()
    if not text.startswith("0x"):
        return None
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        return None
