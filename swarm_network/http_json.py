"""`get_json`: the one blocking GET of a swarm node's JSON document, shared by the SN node
(asking its sentinel), the `swarm` commands and `LocalSwarm`, so that every caller sees the
same failures: `ChainUnavailable` (nobody answered) and `ChainError` (an answer that is an
error or not JSON)."""

from __future__ import annotations

from typing import Any

import requests

from swarm_network.errors import ChainError, ChainUnavailable

DEFAULT_TIMEOUT_S = 10.0


def get_json(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
    """The JSON document at `url`, in one attempt: callers that wait for a server to come up
    retry with their own `Backoff`, so that they can also watch what else they wait on."""
    try:
        response = requests.get(url, timeout=timeout_s)
    except requests.RequestException as exc:
        raise ChainUnavailable(f"cannot reach {url}: {exc}") from exc
    try:
        body = response.json()
    except ValueError as exc:
        raise ChainError(f"{url} answered {response.status_code}, not with JSON") from exc
    if response.status_code >= 400:
        error = body.get("error") if isinstance(body, dict) else body
        raise ChainError(f"{url} answered {response.status_code}: {error}")
    return body
