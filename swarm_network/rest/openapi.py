"""The OpenAPI 3 description of the REST API, served at `/openapi.json`.

Field names here are the public contract: `views.py` produces exactly these, and a test checks
that every documented path answers.
"""

from __future__ import annotations

from typing import Any

from swarm_network.pipeline.rest import OPENAPI_PATHS as PIPELINE_PATHS
from swarm_network.rest.openapi_live import (
    ADDRESS,
    HASH,
    HISTORY_ROW,
    LIVE_EVENT_TYPES,
    METRICS_DOCUMENT,
    NULLABLE_HASH,
    SSE_EVENT,
    TIMINGS,
    ok_response,
)
from swarm_network.rest.openapi_trainings import (
    JOIN_TRAINING,
    TRAINING_ENTRY,
    TRAINING_STATE,
    TRAININGS_PATH,
    add_training_param,
)

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
    "required": ["error", "status"],
}


NODE = {
    "type": "object",
    "properties": {
        "address": ADDRESS,
        "role": {"type": "string", "enum": ["network", "learner"]},
        "file_url": {"type": "string"},
        "enrolled_at_step": {"type": "integer"},
        "last_step": {"type": "integer", "nullable": True},
        "status": {
            "type": "string",
            "enum": ["online", "joined", "active", "waiting", "rejoined", "dropped", "finished"],
        },
        "last_seen": {
            "type": "integer",
            "nullable": True,
            "description": "block timestamp of the node's latest event on chain",
        },
    },
}
CONTRIBUTION = {
    "type": "object",
    "properties": {
        "address": ADDRESS,
        "weight_hash": HASH,
        "base_hash": HASH,
        "weightage": {"type": "integer"},
        "staleness": {
            "type": "integer",
            "description": "steps its base is behind the previous agreed model; merged with "
            "weight weightage / (1 + staleness)",
        },
        "merged_hash": NULLABLE_HASH,
        "rejected_by": {
            "type": "array",
            "items": ADDRESS,
            "description": "participants that left this contribution out of their merge",
        },
    },
}
STEP = {
    "type": "object",
    "properties": {
        "step": {"type": "integer"},
        "closed": {"type": "boolean"},
        "opened_at": {"type": "integer", "description": "block timestamp"},
        "quorum_at": {"type": "integer", "nullable": True},
        "closed_at": {"type": "integer", "nullable": True},
        "agreed_hash": NULLABLE_HASH,
        "conflicting_hashes": {"type": "array", "items": HASH},
        "participants": {"type": "array", "items": {"$ref": "#/components/schemas/Contribution"}},
    },
}
TRAINING = {
    "type": "object",
    "properties": {
        "state": TRAINING_STATE,
        "configured": {"type": "boolean"},
        "min_peers": {"type": "integer"},
        "effective_quorum": {"type": "integer"},
        "grace_seconds": {"type": "integer"},
        "max_staleness": {"type": "integer"},
        "merge_method": {"type": "string"},
        "merge_params": {"type": "string"},
        "current_step": {"type": "integer"},
        "checked_in": {"type": "integer"},
        "live_learners": {"type": "integer"},
        "learners": {"type": "integer"},
        "finished_learners": {"type": "integer"},
        "waiting_for": {"type": "array", "items": ADDRESS},
        "block_number": {"type": "integer"},
    },
}

ADDRESS_PARAM = {"name": "address", "in": "path", "required": True, "schema": ADDRESS}
STEP_PARAM = {"name": "step", "in": "path", "required": True, "schema": {"type": "integer"}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Swarm network node REST API",
        "version": "1",
        "description": "Read-only views of the swarm's chain state, plus joining and a JSON-RPC "
        "pass-through to the chain.",
    },
    "paths": {
        "/v1/health": {
            "get": {
                "summary": "Liveness",
                "responses": ok_response({"type": "object"}, "node is up"),
            }
        },
        "/v1/chain": {
            "get": {
                "summary": "Chain id, block number, contract address, RPC URL",
                "responses": ok_response({"type": "object"}, "chain facts"),
            }
        },
        "/v1/nodes": {
            "get": {
                "summary": "Every enrolled node with its status",
                "responses": ok_response(
                    {
                        "type": "object",
                        "properties": {
                            "current_step": {"type": "integer"},
                            "nodes": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Node"},
                            },
                        },
                    },
                    "nodes",
                ),
            }
        },
        "/v1/trainings": TRAININGS_PATH,
        "/v1/training": {
            "get": {
                "summary": "The training: settings, open step, state",
                "responses": ok_response({"$ref": "#/components/schemas/Training"}, "training"),
            }
        },
        "/v1/steps": {
            "get": {
                "summary": "The most recent steps, newest first",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}
                ],
                "responses": ok_response(
                    {
                        "type": "object",
                        "properties": {
                            "current_step": {"type": "integer"},
                            "steps": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Step"},
                            },
                        },
                    },
                    "steps",
                ),
            }
        },
        "/v1/steps/{step}": {
            "get": {
                "summary": "One sync step: participants, weight hashes, agreed merge",
                "parameters": [
                    {"name": "step", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": ok_response({"$ref": "#/components/schemas/Step"}, "the step"),
            }
        },
        "/v1/nodes/{address}": {
            "get": {
                "summary": "One enrolled node",
                "parameters": [ADDRESS_PARAM],
                "responses": ok_response({"$ref": "#/components/schemas/Node"}, "the node"),
            }
        },
        "/v1/nodes/{address}/metrics": {
            "get": {
                "summary": "A learner's metrics and timings, one row per step, oldest first",
                "parameters": [ADDRESS_PARAM],
                "responses": ok_response(
                    {
                        "type": "object",
                        "properties": {
                            "address": ADDRESS,
                            "history": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/HistoryRow"},
                            },
                        },
                    },
                    "the learner's history",
                ),
            }
        },
        "/v1/steps/{step}/timings": {
            "get": {
                "summary": "Every learner's timings of one step (check-in, wait, transfer, merge)",
                "parameters": [STEP_PARAM],
                "responses": ok_response(
                    {
                        "type": "object",
                        "properties": {
                            "step": {"type": "integer"},
                            "learners": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "address": ADDRESS,
                                        **TIMINGS["properties"],
                                    },
                                },
                            },
                        },
                    },
                    "timings",
                ),
            }
        },
        "/v1/metrics": {
            "get": {
                "summary": "Every learner's signed metrics documents in arrival order, from a "
                "cursor (how SN nodes relay them, and what the dashboard reads)",
                "parameters": [
                    {"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                ],
                "responses": ok_response(
                    {
                        "type": "object",
                        "properties": {
                            "documents": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/MetricsDocument"},
                            },
                            "next": {"type": "integer", "description": "cursor to ask next"},
                            "end": {"type": "integer", "description": "documents held"},
                        },
                    },
                    "a page of documents",
                ),
            },
            "post": {
                "summary": "A learner's metrics of one closed step, signed with its key; an "
                "SN node checks it and relays it to the other SN nodes (through the sentinel)",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/MetricsDocument"}
                        }
                    }
                },
                "responses": ok_response(
                    {
                        "type": "object",
                        "properties": {
                            "address": ADDRESS,
                            "step": {"type": "integer"},
                            "new": {"type": "boolean"},
                        },
                    },
                    "accepted (new is false for a copy already held)",
                ),
            },
        },
        "/v1/stream": {
            "get": {
                "summary": "Server-Sent Events of what happens: " + ", ".join(LIVE_EVENT_TYPES),
                "description": "Each event is `id`, `event: <type>` and one `data` line of JSON "
                "(the type's fields, plus block and block time for chain events). Send "
                "Last-Event-ID (browsers do on reconnect) to replay recent missed events.",
                "parameters": [
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "schema": {"type": "integer", "minimum": 0},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "an endless event stream",
                        # OpenAPI 3.0: the schema of an event stream describes each event
                        "content": {"text/event-stream": {"schema": SSE_EVENT}},
                    },
                    "default": ok_response({}, "")["default"],
                },
            }
        },
        "/": {
            "get": {
                "summary": "The dashboard (HTML; its files are under /dashboard/)",
                "responses": {
                    "200": {
                        "description": "the dashboard page",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/v1/events": {
            "get": {
                "summary": "Long-poll: the contract's logs of the blocks after `after`, as soon "
                "as there is one (empty after `timeout` seconds: 10 if not given, at most 20)",
                "parameters": [
                    {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": -1}},
                    {"name": "timeout", "in": "query", "schema": {"type": "number"}},
                ],
                "responses": ok_response(
                    {
                        "type": "object",
                        "required": ["head", "logs"],
                        "properties": {
                            "head": {"type": "integer"},
                            "logs": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                    "the new head and the contract's logs up to it (JSON-RPC log objects)",
                ),
            }
        },
        "/v1/join": {
            "post": {
                "summary": "Ask the sentinel to enrol a node (needs the swarm's join token)",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["address", "role", "file_url", "signature", "token"],
                                "properties": {
                                    "address": ADDRESS,
                                    "role": {"type": "string", "enum": ["learner", "network"]},
                                    "file_url": {"type": "string"},
                                    "signature": {"type": "string"},
                                    "token": {"type": "string"},
                                    "training": JOIN_TRAINING,
                                },
                            }
                        }
                    }
                },
                "responses": ok_response({"type": "object"}, "enrolled (or already enrolled)"),
            }
        },
        "/rpc": {
            "post": {
                "summary": "Ethereum JSON-RPC, passed through to the chain",
                "responses": ok_response({"type": "object"}, "JSON-RPC response"),
            }
        },
    },
    "components": {
        "schemas": {
            "Error": ERROR,
            "Node": NODE,
            "Contribution": CONTRIBUTION,
            "Step": STEP,
            "Training": TRAINING,
            "TrainingEntry": TRAINING_ENTRY,
            "Timings": TIMINGS,
            "MetricsDocument": METRICS_DOCUMENT,
            "HistoryRow": HISTORY_ROW,
        }
    },
}

add_training_param(OPENAPI["paths"])

# The pipeline routes describe themselves beside their handlers (swarm_network/pipeline/rest.py).
OPENAPI["paths"].update(PIPELINE_PATHS)
