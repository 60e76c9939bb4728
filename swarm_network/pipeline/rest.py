"""What an SN node serves about pipelines: `PIPELINE_ROUTES` for the node's REST app (their
handlers read the node's `PipelineService` from `app[PIPELINE]`, set at start-up), and
`OPENAPI_PATHS` their OpenAPI description.

Read-only over the chain and verified files, except one write: a swarm's owner uploads its
module archives, globals and manifest here (`PUT /v1/pipeline/files/{sha256}`), signed with its
own key, so that this node's file server serves them to every node that runs a task.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError

from swarm_network.chain import SwarmContract
from swarm_network.errors import AdmissionError, ChainError, InvalidRequest, InvalidWeights
from swarm_network.files.store import FileStore, is_sha256_hex
from swarm_network.pipeline.chain import PipelineContract
from swarm_network.pipeline.fetching import Sources
from swarm_network.pipeline.views import PipelineViews, summary_json, worker_json
from swarm_network.rest.errors import json_error

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 64 << 20
VIEW_FETCH_TIMEOUT_S = 3.0
ADDRESS_HEADER = "X-Swarm-Address"
SIGNATURE_HEADER = "X-Swarm-Signature"


def upload_message(sha: str) -> str:
    """What an uploader signs: binds its key to the one file it uploads."""
    return f"swarm-upload\nsha256:{sha}"


def sign_upload(account: Any, sha: str) -> str:
    return account.sign_message(encode_defunct(text=upload_message(sha))).signature.hex()


@dataclass
class PipelineService:
    """One SN node's view of the pipelines. The sentinel knows the pipeline contract's address
    (it deployed it); another SN node asks its sentinel once, on first use."""

    registry: SwarmContract
    store: FileStore
    pipeline_address: str | None = None
    sentinel_url: str | None = None
    _contract: PipelineContract | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def contract(self) -> PipelineContract:
        with self._lock:
            if self._contract is None:
                address = self.pipeline_address or self._ask_sentinel()
                self._contract = PipelineContract(w3=self.registry.w3, address=address)
            return self._contract

    def _ask_sentinel(self) -> str:
        import requests

        if self.sentinel_url is None:
            raise ChainError("this node knows neither the pipeline contract nor its sentinel")
        try:
            response = requests.get(f"{self.sentinel_url}/v1/pipeline", timeout=10)
            return str(response.json()["contract_address"])
        except (requests.RequestException, ValueError, KeyError) as exc:
            raise ChainError(
                f"cannot learn the pipeline contract from the sentinel: {exc}"
            ) from exc

    def views(self) -> PipelineViews:
        return PipelineViews(
            contract=self.contract(),
            sources=Sources(self.registry, timeout_s=VIEW_FETCH_TIMEOUT_S),
            store=self.store,
        )

    def check_uploader(self, sha: str, address: str, signature: str) -> None:
        try:
            signer = Account.recover_message(
                encode_defunct(text=upload_message(sha)), signature=signature
            )
        except (ValueError, TypeError, ValidationError, BadSignature) as exc:
            raise InvalidRequest("upload signature is malformed") from exc
        if signer.lower() != address.lower():
            raise AdmissionError("upload signature was not made by the key of that address")
        if self.registry.node(signer).role == "none":
            raise AdmissionError(f"{signer} is not enrolled in the swarm: join first")


#: The node's pipeline service, set by the node's start-up like `rest.app.CONTEXT`.
PIPELINE = web.AppKey("pipeline", PipelineService)


def _pipeline_id(request: web.Request) -> int:
    raw = request.match_info["pipeline_id"]
    if not raw.isdigit():
        raise InvalidRequest(f"swarm id must be a non-negative integer, got {raw!r}")
    return int(raw)


def _optional_int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidRequest(f"{name} must be a non-negative integer, got {raw!r}")
    return int(raw)


async def _info(request: web.Request) -> web.Response:
    service = request.app[PIPELINE]

    def read() -> dict[str, Any]:
        contract = service.contract()
        return {
            "contract_address": contract.address,
            "workers": [worker_json(w) for w in contract.workers()],
            "swarms": contract.pipeline_count(),
        }

    return web.json_response(await asyncio.to_thread(read))


async def _workers(request: web.Request) -> web.Response:
    service = request.app[PIPELINE]
    found = await asyncio.to_thread(lambda: service.contract().workers())
    return web.json_response({"workers": [worker_json(w) for w in found]})


async def _upload(request: web.Request) -> web.Response:
    service = request.app[PIPELINE]
    sha = request.match_info["sha256"]
    if not is_sha256_hex(sha):
        return json_error(400, "file id must be a sha256 hex string (64 lowercase hex)")
    address = request.headers.get(ADDRESS_HEADER, "")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not address or not signature:
        return json_error(403, f"uploads need {ADDRESS_HEADER} and {SIGNATURE_HEADER}")
    await asyncio.to_thread(service.check_uploader, sha, address, signature)
    if service.store.has(sha):
        return web.json_response({"sha256": sha, "stored": False})
    body = await request.content.read(MAX_UPLOAD_BYTES + 1)
    if len(body) > MAX_UPLOAD_BYTES:
        return json_error(413, f"uploads are limited to {MAX_UPLOAD_BYTES >> 20} MiB")
    try:
        await asyncio.to_thread(service.store.put_verified_stream, [body], sha)
    except InvalidWeights as exc:  # HashMismatch: the bytes are not the file named
        return json_error(400, f"upload refused: {exc}")
    log.info("stored %s (%d bytes) uploaded by %s", sha, len(body), address)
    return web.json_response({"sha256": sha, "stored": True})


async def _list_swarms(request: web.Request) -> web.Response:
    service = request.app[PIPELINE]
    found = await asyncio.to_thread(lambda: service.contract().pipelines())
    return web.json_response({"swarms": [summary_json(p) for p in found]})


async def _show(request: web.Request) -> web.Response:
    service = request.app[PIPELINE]
    pipeline_id = _pipeline_id(request)
    doc = await asyncio.to_thread(_existing, service, pipeline_id, lambda v: v.show(pipeline_id))
    return web.json_response(doc)


async def _logs(request: web.Request) -> web.Response:
    service = request.app[PIPELINE]
    pipeline_id = _pipeline_id(request)
    since = _optional_int(request, "since_iteration") or 0
    doc = await asyncio.to_thread(
        _existing, service, pipeline_id, lambda v: v.logs(pipeline_id, since)
    )
    return web.json_response(doc)


async def _results(request: web.Request) -> web.Response:
    service = request.app[PIPELINE]
    pipeline_id = _pipeline_id(request)
    tag = request.match_info["tag"]
    iteration = _optional_int(request, "iteration")
    doc = await asyncio.to_thread(
        _existing, service, pipeline_id, lambda v: v.results(pipeline_id, tag, iteration)
    )
    return web.json_response(doc)


PIPELINE_ROUTES = [
    web.get("/v1/pipeline", _info),
    web.get("/v1/pipeline/workers", _workers),
    web.put("/v1/pipeline/files/{sha256}", _upload),
    web.get("/v1/swarms", _list_swarms),
    web.get("/v1/swarms/{pipeline_id}", _show),
    web.get("/v1/swarms/{pipeline_id}/logs", _logs),
    web.get("/v1/swarms/{pipeline_id}/results/{tag}", _results),
]


def _existing(service: PipelineService, pipeline_id: int, read: Any) -> Any:
    views = service.views()
    if pipeline_id >= views.contract.pipeline_count():
        raise web.HTTPNotFound(reason=f"no swarm {pipeline_id}")
    return read(views)


_HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
_NULLABLE_INT = {"type": "integer", "nullable": True}
_SWARM = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "owner": _ADDRESS,
        "status": {
            "type": "string",
            "enum": ["pending", "running", "completed", "stopped", "failed"],
        },
        "iteration": {**_NULLABLE_INT, "description": "the open iteration"},
        "iterations": {"type": "integer", "description": "started so far"},
        "max_iterations": {"type": "integer", "description": "0: until the scheduler stops"},
        "manifest_hash": _HASH,
        "task_timeout_s": {"type": "integer"},
        "created_at": {"type": "integer", "description": "block timestamp"},
        "ended_at": _NULLABLE_INT,
        "ended_by": {**_ADDRESS, "nullable": True},
    },
}
_WORKER = {
    "type": "object",
    "properties": {
        "address": _ADDRESS,
        "datasets": {"type": "array", "items": {"type": "string"}},
        "missed": {"type": "boolean", "description": "silent on its last assignment"},
        "registered_at": {"type": "integer"},
    },
}
_WORKERS = {"type": "array", "items": _WORKER}


def _get(summary: str, schema: dict[str, Any], params: list[dict[str, Any]] | None = None):  # type: ignore[no-untyped-def]
    doc: dict[str, Any] = {
        "summary": summary,
        "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": schema}}},
            "default": {
                "description": "error (400 bad input, 404 unknown swarm, 503 chain unavailable)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    if params:
        doc["parameters"] = params
    return doc


def _param(name: str, where: str = "path", schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema or {"type": "integer"},
    }


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/pipeline": {
        "get": _get(
            "the pipeline contract, its workers and how many swarms it holds",
            {
                "type": "object",
                "properties": {
                    "contract_address": _ADDRESS,
                    "workers": _WORKERS,
                    "swarms": {"type": "integer"},
                },
            },
        )
    },
    "/v1/pipeline/workers": {
        "get": _get(
            "registered worker nodes and their datasets",
            {"type": "object", "properties": {"workers": _WORKERS}},
        )
    },
    "/v1/pipeline/files/{sha256}": {
        "put": {
            "summary": "a swarm owner uploads a file it deployed (signed: X-Swarm-Address, "
            "X-Swarm-Signature over 'swarm-upload\\nsha256:<sha256>')",
            "parameters": [_param("sha256", schema=_HASH)],
            "requestBody": {"content": {"application/octet-stream": {}}},
            "responses": {
                "200": {"description": "stored (or already there)"},
                "default": {
                    "description": "error (400 bad input, 403 not signed by the swarm's owner)",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            },
        }
    },
    "/v1/swarms": {
        "get": _get(
            "every deployed swarm with its status",
            {"type": "object", "properties": {"swarms": {"type": "array", "items": _SWARM}}},
        )
    },
    "/v1/swarms/{pipeline_id}": {
        "get": _get(
            "one swarm: task graph, iterations, tasks per node, decisions, result tags, "
            "refused results",
            _SWARM,
            [_param("pipeline_id")],
        )
    },
    "/v1/swarms/{pipeline_id}/logs": {
        "get": _get(
            "the task logs recorded on chain (verified), failed tasks included",
            {"type": "object"},
            [_param("pipeline_id"), _param("since_iteration", "query")],
        )
    },
    "/v1/swarms/{pipeline_id}/results/{tag}": {
        "get": _get(
            "result TAG of the latest iteration that has it (or of ?iteration=K): each "
            "node's value by sha256 and the file server to fetch it from",
            {"type": "object"},
            [
                _param("pipeline_id"),
                _param("tag", schema={"type": "string"}),
                _param("iteration", "query"),
            ],
        )
    },
}
