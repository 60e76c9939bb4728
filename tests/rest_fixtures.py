"""Fixtures and helpers shared by the REST API tests (`tests/test_rest_api*.py`): one swarm
per test module (sentinel + one SN node, separate processes on free loopback ports), and the
requests every test makes. Most tests run against both nodes (`node_url`): the SN node serves
the same API as the sentinel, and forwards joins to it.

Imported by those modules as a plugin (`pytest_plugins = ["rest_fixtures"]`), so that the
lead can merge these fixtures into `tests/conftest.py` as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from web3 import Web3
from web3.providers.rpc import HTTPProvider

from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_network.admission import sign_join

TIMEOUT = 30
NODES = ["sentinel", "sn"]
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
MAX_BODY_BYTES = 1 << 20  # the REST API's request body limit


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSwarm]:
    swarm = LocalSwarm(work_dir=tmp_path_factory.mktemp("rest-swarm"))
    try:
        swarm.start_sentinel()
        swarm.start_sn()
        yield swarm
    finally:
        swarm.stop()


@pytest.fixture(params=NODES)
def node_url(request: pytest.FixtureRequest, swarm: LocalSwarm) -> str:
    url = swarm.sentinel_rest if request.param == "sentinel" else swarm.sn_rest
    assert url is not None
    return url


@pytest.fixture(scope="module")
def addresses(swarm: LocalSwarm) -> dict[str, str]:
    """The sentinel's and the SN node's own addresses, as they report them."""
    return {
        "sentinel": get(f"{swarm.sentinel_rest}/v1/health")["address"],
        "sn": get(f"{swarm.sn_rest}/v1/health")["address"],
    }


@pytest.fixture(scope="module")
def chain_w3(swarm: LocalSwarm) -> Web3:
    assert swarm.sentinel_rpc is not None
    return Web3(HTTPProvider(swarm.sentinel_rpc, request_kwargs={"timeout": TIMEOUT}))


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


def join_body(account: Any, *, role: str = "learner", token: str, file_url: str) -> dict:
    return {
        "address": account.address,
        "role": role,
        "file_url": file_url,
        "signature": sign_join(account, role, file_url),
        "token": token,
    }


def enrolled(url: str) -> dict[str, dict[str, Any]]:
    return {n["address"].lower(): n for n in get(f"{url}/v1/nodes")["nodes"]}
