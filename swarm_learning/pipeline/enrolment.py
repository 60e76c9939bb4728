"""How a pipeline node (`swarm node`) enrols: its settings, its file server, its admission
through an SN node like every node, the contracts it works with, and its task executor."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from swarm_learning.node import sn_request
from swarm_learning.pipeline import sandbox
from swarm_learning.pipeline.execution import TaskExecutor
from swarm_learning.pipeline.inputs import PipelineInputs, Sources
from swarm_network.admission import sign_join
from swarm_network.chain import SwarmContract, connect
from swarm_network.errors import ConfigError
from swarm_network.files.server import BackgroundServer, create_file_app
from swarm_network.files.store import FileStore
from swarm_network.pipeline.chain import PipelineContract

log = logging.getLogger(__name__)

CHAIN_RETRY_S = 300.0


@dataclass(frozen=True)
class NodeSettings:
    sn_url: str
    join_token: str
    node_dir: Path
    datasets: dict[str, Path]
    file_host: str = "127.0.0.1"
    file_port: int = 0
    advertise_host: str | None = None
    isolation: str = "auto"
    max_tasks: int = 2
    task_memory_mb: int = 4096
    poll_s: float = 0.2


@dataclass(frozen=True)
class Enrolment:
    """What an enrolled node works with."""

    server: BackgroundServer
    registry: SwarmContract
    contract: PipelineContract
    inputs: PipelineInputs
    executor: TaskExecutor


def enrol(
    settings: NodeSettings, account: LocalAccount, store: FileStore, isolation: str
) -> Enrolment:
    s = settings
    for name, path in s.datasets.items():
        if not path.exists():
            raise ConfigError(f"dataset {name!r}: {path} does not exist")
    server = BackgroundServer(create_file_app(store), host=s.file_host, port=s.file_port).start()
    host = s.advertise_host or s.file_host
    file_url = f"http://{host}:{server.port}"
    sn_request(
        "POST",
        f"{s.sn_url}/v1/join",
        json={
            "address": account.address,
            "role": "network",
            "file_url": file_url,
            "signature": sign_join(account, "network", file_url),
            "token": s.join_token,
        },
    )
    chain = sn_request("GET", f"{s.sn_url}/v1/chain")
    info = sn_request("GET", f"{s.sn_url}/v1/pipeline")
    w3 = connect(f"{s.sn_url}{chain['rpc_proxy_path']}")
    registry = SwarmContract(
        w3=w3, address=chain["contract_address"], account=account, retry_s=CHAIN_RETRY_S
    )
    if registry.node(account.address).file_url != file_url:
        registry.set_file_url(file_url)
    contract = PipelineContract.beside(registry, info["contract_address"])
    contract.register_worker(sorted(s.datasets))
    inputs = PipelineInputs(contract=contract, sources=Sources(registry), store=store)
    executor = TaskExecutor(
        inputs=inputs,
        store=store,
        work_root=s.node_dir,
        hide=[s.node_dir.resolve()],
        datasets={name: path.resolve() for name, path in s.datasets.items()},
        isolation=isolation,
        limits=sandbox.Limits(wall_s=600, cpu_s=600, memory_mb=s.task_memory_mb),
    )
    log.info(
        "node %s ready: datasets %s, files at %s, pipeline contract %s",
        account.address,
        ", ".join(sorted(s.datasets)) or "none",
        file_url,
        contract.address,
    )
    log.info("task isolation: %s (%s)", isolation, sandbox.describe(isolation))
    log.info(
        "container isolation: not available here (%s)",
        "a container runtime answers, but this version runs tasks without one"
        if sandbox.container_runtime()
        else "no docker or podman daemon answers on this machine",
    )
    return Enrolment(server, registry, contract, inputs, executor)


def choose_isolation(requested: str) -> str:
    available = sandbox.available_isolation()
    if requested == "auto":
        return available
    if requested == sandbox.NAMESPACES and available != sandbox.NAMESPACES:
        raise ConfigError("--isolation namespaces needs root on Linux and the unshare tool")
    if requested not in (sandbox.PROCESS, sandbox.NAMESPACES):
        raise ConfigError(f"unknown isolation {requested!r}: auto, process or namespaces")
    return requested
