"""The fixtures every test module shares: free ports, chains, a deployed contract, processes
and whole local swarms, each cleaned up after its test, also when the test fails.

The building blocks are plain helpers (`chain_helpers`, `process_helpers`, and
`swarm_learning.demo.local_swarm.LocalSwarm`, which the demo runs too), so that a module-scoped
fixture can use the same pieces with `with`. Fixtures of one topic, shared by that topic's
test files, live in the modules named by `pytest_plugins`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from chain_helpers import (
    CHAIN_ID,
    CHAIN_KINDS,
    ChainEndpoint,
    ChainServer,
    DeployedSwarm,
    deploy_swarm,
    require_anvil,
    run_chain,
    serve_embedded_chain,
)
from process_helpers import ProcessReaper

from swarm_learning.demo import local_swarm as demo_swarm

# The scenario of the JSON-RPC conformance tests, and the churn scenarios of the end-to-end
# tests: each is run once for all the test files of its topic.
pytest_plugins = ("rpc_scenario", "churn_scenarios", "rest_fixtures")


@pytest.fixture
def free_port() -> Callable[[], int]:
    """Call it for a loopback port nothing listens on right now, outside the ephemeral range."""
    return demo_swarm.free_port


@pytest.fixture
def processes() -> Iterator[ProcessReaper]:
    """`processes.start(args, ...)` (or `.track(popen)`): every such process is stopped
    (SIGTERM, then SIGKILL) and reaped after the test, passed or failed."""
    with ProcessReaper() as reaper:
        yield reaper


@pytest.fixture
def chain_server() -> Iterator[Callable[..., ChainServer]]:
    """`chain_server(funded_accounts, chain_id=1337, **rpc_options)`: a fresh embedded chain
    behind the real JSON-RPC server on a free port; every one is stopped after the test."""
    with ExitStack() as servers:

        def start(
            funded_accounts: dict[str, int], *, chain_id: int = CHAIN_ID, **rpc_options: Any
        ) -> ChainServer:
            return servers.enter_context(
                serve_embedded_chain(funded_accounts, chain_id=chain_id, **rpc_options)
            )

        yield start


@pytest.fixture(scope="module", params=CHAIN_KINDS)
def chain_endpoint(request: pytest.FixtureRequest) -> Iterator[ChainEndpoint]:
    """One chain for the module, once the embedded chain and once anvil (skipped, saying why,
    only when anvil is not installed): a test using it runs on both."""
    if request.param == "anvil":
        require_anvil()
    with run_chain(request.param) as endpoint:
        yield endpoint


@pytest.fixture
def swarm_factory(chain_endpoint: ChainEndpoint) -> Callable[..., DeployedSwarm]:
    """`swarm_factory(learners=N)`: a fresh SwarmLearning contract on `chain_endpoint` with N
    funded, enrolled learners (a fresh contract per call, so tests share no state)."""

    def deploy(*, learners: int) -> DeployedSwarm:
        return deploy_swarm(chain_endpoint, learners=learners)

    return deploy


@pytest.fixture
def local_swarm(tmp_path: Path) -> Iterator[demo_swarm.LocalSwarm]:
    """A `LocalSwarm` (sentinel, SN nodes, learners as processes) working in `tmp_path`; every
    process it started is stopped after the test."""
    with demo_swarm.LocalSwarm(work_dir=tmp_path) as swarm:
        yield swarm
