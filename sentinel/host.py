"""The sentinel process: the embedded chain behind JSON-RPC, the contract deployment, and the
sentinel's own SN node (REST + file server) that admits the other nodes."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.rpc_server import create_rpc_app
from swarm_learning.file_server import create_file_app
from swarm_learning.file_store import FileStore
from swarm_network.admission import Admission
from swarm_network.archive import DEFAULT_RETENTION, ModelArchive
from swarm_network.chain.client import SwarmContract, connect
from swarm_network.chain.identity import load_or_create_key
from swarm_network.rest.app import NodeContext, create_rest_app
from swarm_network.serve import Listener, run_with_archive, start_listener, stop_event_on_signals

log = logging.getLogger(__name__)

SENTINEL_BALANCE_WEI = 10**9 * 10**18  # enough to fund thousands of nodes


@dataclass(frozen=True)
class SentinelConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    rpc_port: int = 30303
    rest_port: int = 30304
    file_port: int = 30305
    advertise_host: str | None = None
    join_token: str | None = None
    chain_id: int = 1337
    keep_models: int = DEFAULT_RETENTION


def load_or_create_token(path: Path, given: str | None) -> str:
    """The swarm's join token: given by flag, or kept from an earlier run, or generated."""
    if given:
        return given
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    token = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token)
    return token


def _public(config: SentinelConfig, port: int) -> str:
    host = config.advertise_host or config.host
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


async def run_sentinel(config: SentinelConfig, announce) -> None:  # type: ignore[no-untyped-def]
    """Serve until SIGINT/SIGTERM. `announce(info)` is told the URLs and token once ready."""
    account = load_or_create_key(config.data_dir / "node.key")
    token = load_or_create_token(config.data_dir / "join-token", config.join_token)
    chain = EmbeddedChain(
        funded_accounts={account.address: SENTINEL_BALANCE_WEI}, chain_id=config.chain_id
    )
    stop = stop_event_on_signals()
    runners = [
        await start_listener(
            Listener("chain JSON-RPC", create_rpc_app(chain), config.host, config.rpc_port)
        )
    ]
    try:
        rpc_url = _public(config, config.rpc_port)
        file_url = _public(config, config.file_port)
        contract = await asyncio.to_thread(
            SwarmContract.deploy, w3=connect(rpc_url), account=account, sentinel_file_url=file_url
        )
        context = NodeContext(
            role="sentinel",
            address=account.address,
            contract=contract,
            chain_rpc_url=rpc_url,
            file_url=file_url,
            admission=Admission(contract=contract, join_token=token),
        )
        store = FileStore(config.data_dir / "files")
        runners.append(
            await start_listener(
                Listener("REST API", create_rest_app(context), config.host, config.rest_port)
            )
        )
        runners.append(
            await start_listener(
                Listener("file server", create_file_app(store), config.host, config.file_port)
            )
        )
    except BaseException:
        for runner in reversed(runners):
            await runner.cleanup()
        raise
    announce(
        {
            "rpc_url": rpc_url,
            "rest_url": _public(config, config.rest_port),
            "file_url": file_url,
            "contract_address": contract.address,
            "address": account.address,
            "join_token": token,
        }
    )
    archive = ModelArchive(contract=contract, store=store, retention=config.keep_models)
    await run_with_archive(runners, stop, archive)
