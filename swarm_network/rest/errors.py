"""Domain errors become HTTP errors here, at the edge, and every error body is JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from swarm_network.errors import AdmissionError, ChainError, ContractRevert, SwarmError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            raise
        return json_error(exc.status, exc.reason)
    except json.JSONDecodeError:
        return json_error(400, "request body is not valid JSON")
    except AdmissionError as exc:
        return json_error(403, str(exc))
    except ContractRevert as exc:
        return json_error(409, f"the contract refused: {exc.reason}")
    except ChainError as exc:
        log.warning("chain unavailable for %s: %s", request.path, exc)
        return json_error(503, f"chain unavailable: {exc}")
    except SwarmError as exc:
        return json_error(400, str(exc))
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return json_error(500, "internal error")
