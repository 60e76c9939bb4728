"""An SN node that is not the sentinel: joins through the sentinel, then serves the REST API
over chain state and a file server of its own."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from swarm_network.admission import sign_join
from swarm_network.archive import DEFAULT_RETENTION, ModelArchive
from swarm_network.chain.client import SwarmContract, connect
from swarm_network.chain.identity import load_or_create_key
from swarm_network.cli.common import get_json
from swarm_network.errors import AdmissionError
from swarm_network.files.server import create_file_app
from swarm_network.files.store import FileStore
from swarm_network.pipeline.rest import PipelineService
from swarm_network.rest.app import NodeContext, create_rest_app
from swarm_network.serve import Listener, run_with_archive, start_listener, stop_event_on_signals

log = logging.getLogger(__name__)

SENTINEL_WAIT_S = 60.0


@dataclass(frozen=True)
class SnConfig:
    sentinel_url: str
    join_token: str
    data_dir: Path
    host: str = "127.0.0.1"
    rest_port: int = 30304
    file_port: int = 30305
    advertise_host: str | None = None
    keep_models: int = DEFAULT_RETENTION


def _join(config: SnConfig, account, file_url: str) -> dict:  # type: ignore[no-untyped-def]
    import requests

    response = requests.post(
        f"{config.sentinel_url}/v1/join",
        json={
            "address": account.address,
            "role": "network",
            "file_url": file_url,
            "signature": sign_join(account, "network", file_url),
            "token": config.join_token,
        },
        timeout=60,
    )
    body = response.json()
    if response.status_code == 403:
        raise AdmissionError(f"the sentinel refused this node: {body.get('error')}")
    if response.status_code >= 400:
        raise AdmissionError(f"join failed ({response.status_code}): {body.get('error')}")
    return body


async def run_sn(config: SnConfig, announce) -> None:  # type: ignore[no-untyped-def]
    account = load_or_create_key(config.data_dir / "node.key")
    chain = await asyncio.to_thread(
        get_json, f"{config.sentinel_url}/v1/chain", wait_s=SENTINEL_WAIT_S
    )
    host = config.advertise_host or config.host
    file_url = f"http://{host}:{config.file_port}"
    await asyncio.to_thread(_join, config, account, file_url)
    contract = SwarmContract(
        w3=connect(chain["rpc_url"]), address=chain["contract_address"], account=account
    )
    if not await asyncio.to_thread(contract.code_matches_artifact):
        raise AdmissionError(
            f"the contract at {contract.address} is not this version's SwarmLearning contract"
        )
    context = NodeContext(
        role="sn",
        address=account.address,
        contract=contract,
        chain_rpc_url=chain["rpc_url"],
        file_url=file_url,
        sentinel_url=config.sentinel_url,
    )
    stop = stop_event_on_signals()
    store = FileStore(config.data_dir / "files")
    service = PipelineService(registry=contract, store=store, sentinel_url=config.sentinel_url)
    runners = [
        await start_listener(
            Listener("REST API", create_rest_app(context, service), config.host, config.rest_port)
        )
    ]
    try:
        runners.append(
            await start_listener(
                Listener("file server", create_file_app(store), config.host, config.file_port)
            )
        )
    except BaseException:
        await runners[0].cleanup()
        raise
    announce({"rest_url": f"http://{host}:{config.rest_port}", "address": account.address})
    archive = ModelArchive(contract=contract, store=store, retention=config.keep_models)
    await run_with_archive(runners, stop, archive)
