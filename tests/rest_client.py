"""The requests the REST API tests make, and the checks every answer must pass (JSON, with
the documented error shape). Plain functions, imported by `tests/test_rest_api*.py`."""

from __future__ import annotations

import re
from typing import Any

import requests

from swarm_network.admission import sign_join

TIMEOUT = 30
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
MAX_BODY_BYTES = 1 << 20  # the REST API's request body limit


def get(url: str) -> Any:
    response = requests.get(url, timeout=TIMEOUT)
    assert response.status_code == 200, (url, response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def assert_json_error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error", "status"}, body
    assert body["status"] == status
    assert isinstance(body["error"], str) and body["error"].strip()
    return body


def join_body(
    account: Any, *, role: str = "learner", token: str, file_url: str, training: str | None = None
) -> dict:
    body = {
        "address": account.address,
        "role": role,
        "file_url": file_url,
        "signature": sign_join(account, role, file_url, training or "default"),
        "token": token,
    }
    return body if training is None else {**body, "training": training}


def enrolled(url: str, training: str = "default") -> dict[str, dict[str, Any]]:
    nodes = get(f"{url}/v1/nodes?training={training}")["nodes"]
    return {n["address"].lower(): n for n in nodes}
