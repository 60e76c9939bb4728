"""OpenAPI pieces of the swarm's trainings (README, "Concurrent trainings"): the list of them,
and the `training` parameter that every read of one training takes."""

from __future__ import annotations

from typing import Any

from swarm_network.rest.openapi_live import ADDRESS, NULLABLE_HASH, ok_response

TRAINING_STATE = {
    "type": "string",
    "enum": ["not_started", "training", "waiting_for_quorum", "done"],
}
TRAINING_NAME = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}
TRAINING_PARAM = {
    "name": "training",
    "in": "query",
    "schema": TRAINING_NAME,
    "description": "which of the swarm's trainings (/v1/trainings); default: `default`",
}
#: The paths that read one training: `?training=` picks which.
TRAINING_PATHS = (
    "/v1/chain",
    "/v1/nodes",
    "/v1/training",
    "/v1/steps",
    "/v1/steps/{step}",
    "/v1/nodes/{address}",
    "/v1/nodes/{address}/metrics",
    "/v1/steps/{step}/timings",
    "/v1/metrics",
    "/v1/stream",
    "/v1/events",
)
JOIN_TRAINING = {
    **TRAINING_NAME,
    "description": "a learner's training (default: `default`); the first to name one starts it",
}
TRAINING_ENTRY = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "contract_address": ADDRESS,
        "state": TRAINING_STATE,
        "current_step": {"type": "integer"},
        "learners": {"type": "integer"},
        "finished_learners": {"type": "integer"},
        "min_peers": {"type": "integer"},
        "merge_method": {"type": "string"},
        "latest_agreed_step": {"type": "integer", "nullable": True},
        "latest_agreed_hash": NULLABLE_HASH,
    },
}
TRAININGS_PATH: dict[str, Any] = {
    "get": {
        "summary": "The swarm's trainings (each its own contract, members, steps and model), "
        "the default one first",
        "responses": ok_response(
            {
                "type": "object",
                "properties": {
                    "trainings": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/TrainingEntry"},
                    }
                },
            },
            "trainings",
        ),
    }
}


def add_training_param(paths: dict[str, Any]) -> None:
    """Give every operation of the paths that read one training the `training` parameter."""
    for path in TRAINING_PATHS:
        for operation in paths[path].values():
            operation["parameters"] = [*operation.get("parameters", []), TRAINING_PARAM]
