"""Typed views of the contract's state, decoded from raw call results in one place, so that the
REST API, the learners and the CLI all read the chain the same way."""

from __future__ import annotations

from dataclasses import dataclass

from swarm_network.errors import InvalidRequest

ZERO_HASH = "0" * 64

ROLE_NAMES = {0: "none", 1: "network", 2: "learner"}
ROLE_IDS = {name: role_id for role_id, name in ROLE_NAMES.items()}


def hash_to_hex(value: bytes) -> str:
    """bytes32 -> 64 lowercase hex chars (no 0x), the form file names and logs use."""
    return bytes(value).hex()


def hex_to_hash(value: str) -> bytes:
    """64 hex chars, with or without 0x -> bytes32; anything else is refused by name."""
    text = value.removeprefix("0x")
    try:
        if len(text) == 64:
            return bytes.fromhex(text)
    except ValueError:
        pass
    raise InvalidRequest(f"not a 32-byte hash (64 hex characters): {value!r}")


@dataclass(frozen=True)
class TrainingConfig:
    configured: bool
    min_peers: int
    grace_seconds: int
    max_staleness: int
    merge_method: str
    merge_params: str
    # sha256 hex of the first learner's model schema (names, shapes, dtypes); None if unset
    schema_hash: str | None = None


@dataclass(frozen=True)
class NodeRecord:
    address: str
    role: str
    file_url: str
    enrolled_at_step: int
    last_step: int | None  # last step checked in for; None = never
    finished: bool
    rejoined_at_step: int | None = None  # step of its last check-in after missing steps


@dataclass(frozen=True)
class Contribution:
    address: str
    weight_hash: str
    base_hash: str
    weightage: int
    merged_hash: str | None  # None until reported
    staleness: int = 0  # how many steps older than the previous agreed model its base is
    rejected_mask: int = 0  # which participants this reporter left out of its merge

    def rejected(self, participants: tuple[str, ...] | list[str]) -> list[str]:
        return [a for i, a in enumerate(participants) if self.rejected_mask >> i & 1]


@dataclass(frozen=True)
class StepRecord:
    step: int
    closed: bool
    opened_at: int
    quorum_at: int | None
    closed_at: int | None
    agreed_hash: str | None
    participants: tuple[str, ...]


@dataclass(frozen=True)
class SwarmSummary:
    """One consistent snapshot for status displays."""

    block_number: int
    current_step: int
    learner_count: int
    finished_count: int
    effective_quorum: int
    live_learners: int
    open_step: StepRecord
    config: TrainingConfig
    training_ended: bool = False  # recorded on chain: no step runs any more


def training_config_from_call(raw: tuple) -> TrainingConfig:
    configured, min_peers, grace, max_staleness, schema, merge_method, merge_params = raw
    schema_hex = hash_to_hex(schema)
    return TrainingConfig(
        configured=bool(configured),
        min_peers=int(min_peers),
        grace_seconds=int(grace),
        max_staleness=int(max_staleness),
        merge_method=str(merge_method),
        merge_params=str(merge_params),
        schema_hash=None if schema_hex == ZERO_HASH else schema_hex,
    )


def node_from_call(address: str, raw: tuple) -> NodeRecord:
    role, file_url, enrolled_at, last_step, finished, rejoined_at = raw
    return NodeRecord(
        address=address,
        role=ROLE_NAMES.get(int(role), "unknown"),
        file_url=str(file_url),
        enrolled_at_step=int(enrolled_at),
        last_step=int(last_step) - 1 if int(last_step) > 0 else None,
        finished=bool(finished),
        rejoined_at_step=int(rejoined_at) - 1 if int(rejoined_at) > 0 else None,
    )


def step_from_call(step: int, raw: tuple) -> StepRecord:
    closed, opened_at, quorum_at, closed_at, agreed, participants = raw
    agreed_hex = hash_to_hex(agreed)
    return StepRecord(
        step=step,
        closed=bool(closed),
        opened_at=int(opened_at),
        quorum_at=int(quorum_at) or None,
        closed_at=int(closed_at) or None,
        agreed_hash=None if agreed_hex == ZERO_HASH else agreed_hex,
        participants=tuple(str(p) for p in participants),
    )


def contributions_from_call(raw: tuple) -> list[Contribution]:
    participants, weight_hashes, base_hashes, weightages, merged_hashes, staleness, masks = raw
    out = []
    for address, weight, base, weightage, merged, stale, mask in zip(
        participants,
        weight_hashes,
        base_hashes,
        weightages,
        merged_hashes,
        staleness,
        masks,
        strict=True,
    ):
        merged_hex = hash_to_hex(merged)
        out.append(
            Contribution(
                address=str(address),
                weight_hash=hash_to_hex(weight),
                base_hash=hash_to_hex(base),
                weightage=int(weightage),
                merged_hash=None if merged_hex == ZERO_HASH else merged_hex,
                staleness=int(stale),
                rejected_mask=int(mask),
            )
        )
    return out


@dataclass(frozen=True)
class FinalModel:
    """The training's end as the chain records it: whether it has ended, and the step whose
    merge is every learner's final model (None when no step's merge was decided)."""

    ended: bool
    open_step: int  # the step that was open when the training ended (it never ran)
    step: int | None
    model_hash: str | None


def final_model_from_call(raw: tuple) -> FinalModel:
    ended, open_step, found, step, model_hash = raw
    if not (ended and found):
        return FinalModel(ended=bool(ended), open_step=int(open_step), step=None, model_hash=None)
    return FinalModel(
        ended=True, open_step=int(open_step), step=int(step), model_hash=hash_to_hex(model_hash)
    )


@dataclass(frozen=True)
class StepStatus:
    """The few facts a learner waiting on a step needs, read in one call."""

    open_step: int
    closed: bool
    checked_in: int
    quorum: int
    live: int
    quorum_at: int | None
    previous_agreed: bool
    agreed_hash: str | None


def step_status_from_call(raw: tuple) -> StepStatus:
    open_step, closed, checked_in, quorum, live, quorum_at, previous_agreed, agreed = raw
    agreed_hex = hash_to_hex(agreed)
    return StepStatus(
        open_step=int(open_step),
        closed=bool(closed),
        checked_in=int(checked_in),
        quorum=int(quorum),
        live=int(live),
        quorum_at=int(quorum_at) or None,
        previous_agreed=bool(previous_agreed),
        agreed_hash=None if agreed_hex == ZERO_HASH else agreed_hex,
    )
