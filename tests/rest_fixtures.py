"""Fixtures shared by the REST API tests (`tests/test_rest_api*.py`): one swarm per test
module (sentinel + one SN node, separate processes on free loopback ports). Most tests run
against both nodes (`node_url`): the SN node serves the same API as the sentinel, and forwards
joins to it.

`tests/conftest.py` loads it as a plugin (`pytest_plugins`); nobody imports it, so pytest
rewrites its asserts. The requests the tests make are in `rest_client.py`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_client import TIMEOUT, get
from web3 import Web3
from web3.providers.rpc import HTTPProvider

from swarm_learning.demo.local_swarm import LocalSwarm

NODES = ["sentinel", "sn"]


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
