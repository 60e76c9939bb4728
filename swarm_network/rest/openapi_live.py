"""OpenAPI schemas of the live view's documents: learners' metrics and their timings, and the
event stream's types (`swarm_network/live/`)."""

from __future__ import annotations

from typing import Any

ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "sha256, hex"}
NULLABLE_HASH = {**HASH, "nullable": True}


def ok_response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An operation's responses: `schema` on 200, the JSON error document otherwise."""
    return {
        "200": {"description": description, "content": {"application/json": {"schema": schema}}},
        "default": {
            "description": "error (4xx bad input, 503 chain unavailable)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    }


TIMINGS: dict[str, Any] = {
    "type": "object",
    "description": "one sync step as the learner timed it: wall-clock start and end (unix "
    "seconds), local training since its previous step, then the step's phases",
    "properties": {
        name: {"type": "number"}
        for name in (
            "started_at",
            "ended_at",
            "train_s",
            "check_in_s",
            "wait_s",
            "transfer_s",
            "merge_s",
        )
    },
}
METRICS_DOCUMENT = {
    "type": "object",
    "description": "a learner's figures for one step, signed with its own key (EIP-191 "
    "personal_sign of 'swarm-metrics\\n' + the canonical JSON of every field but signature)",
    "required": ["kind", "address", "step", "metrics", "timings", "signature"],
    "properties": {
        "kind": {"type": "string", "enum": ["swarm-metrics/1"]},
        "address": ADDRESS,
        "step": {"type": "integer"},
        "metrics": {
            "type": "object",
            "description": "name -> number (at most 32), e.g. loss, val_loss, val_accuracy",
            "additionalProperties": {"type": "number"},
        },
        "timings": {"$ref": "#/components/schemas/Timings"},
        "signature": {"type": "string"},
    },
}
HISTORY_ROW = {
    "type": "object",
    "properties": {
        "step": {"type": "integer"},
        "metrics": {"type": "object", "additionalProperties": {"type": "number"}},
        "timings": {"$ref": "#/components/schemas/Timings"},
    },
}
LIVE_EVENT_TYPES = [
    "enrolled",
    "file_url",
    "configured",
    "check_in",
    "rejoined",
    "quorum",
    "close",
    "merge_report",
    "refusal",
    "agreement",
    "conflict",
    "finished",
    "ended",
    "node_status",
    "training_state",
    "metrics",
]
#: One Server-Sent Event of `/v1/stream` as it comes on the wire (fields are text).
SSE_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "event": {"type": "string", "enum": LIVE_EVENT_TYPES},
        "data": {
            "type": "string",
            "description": "JSON: {type, ...the type's fields, block and time for chain events}",
        },
    },
}
