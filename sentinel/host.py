"""The sentinel process: the embedded chain behind JSON-RPC, the contract deployment, and the
sentinel's own SN node (REST + file server) that admits the other nodes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from eth_account.signers.local import LocalAccount

from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.rpc_server import create_rpc_app
from swarm_network.admission import Admission
from swarm_network.archive import DEFAULT_RETENTION, ModelArchive
from swarm_network.chain.client import SwarmContract, connect
from swarm_network.chain.identity import load_or_create_key
from swarm_network.errors import ConfigError
from swarm_network.files.server import create_file_app
from swarm_network.files.store import FileStore
from swarm_network.pipeline.deploy import deploy_pipeline_contract
from swarm_network.pipeline.rest import PipelineService
from swarm_network.rest.app import NodeContext, create_rest_app
from swarm_network.serve import Listener, run_with_archive, start_listener, stop_event_on_signals

log = logging.getLogger(__name__)

SENTINEL_BALANCE_WEI = 10**9 * 10**18  # enough to fund thousands of nodes
DEPLOYMENT_FILE = "deployment.json"
JOURNAL_FILE = "chain.journal"


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
    chain_url: str | None = (
        None  # an existing Ethereum JSON-RPC endpoint instead of the embedded chain
    )
    key_file: Path | None = None  # the sentinel's key; on an external chain it must hold funds


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


def _load_key(config: SentinelConfig) -> LocalAccount:
    if config.key_file is None:
        return load_or_create_key(config.data_dir / "node.key")
    if not config.key_file.is_file():
        raise ConfigError(f"key file {config.key_file} does not exist")
    return load_or_create_key(config.key_file)


def deploy_or_reuse(
    *, rpc_url: str, account: LocalAccount, file_url: str, data_dir: Path
) -> SwarmContract:
    """The swarm's contract: the one recorded in the data dir when the chain still holds it
    (a restarted sentinel), else a fresh deployment, recorded for the next start."""
    w3 = connect(rpc_url)
    record_path = data_dir / DEPLOYMENT_FILE
    chain_id = w3.eth.chain_id
    if record_path.exists():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record.get("chain_id") == chain_id:
            contract = SwarmContract(w3=w3, address=record["contract_address"], account=account)
            if contract.code_matches_artifact():
                log.info("reusing the swarm's contract at %s", contract.address)
                return contract
        log.warning("the recorded contract is not on this chain any more; deploying a new one")
    if w3.eth.get_balance(account.address) == 0:
        raise ConfigError(
            f"the sentinel's account {account.address} has no funds on the chain at {rpc_url}: "
            "fund it, or pass --key-file with a funded key"
        )
    contract = SwarmContract.deploy(w3=w3, account=account, sentinel_file_url=file_url)
    tmp = record_path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"chain_id": chain_id, "contract_address": contract.address}) + "\n",
        encoding="utf-8",
    )
    os.replace(tmp, record_path)
    return contract


async def _start_embedded_chain(config: SentinelConfig, account: LocalAccount) -> web.AppRunner:
    """The embedded chain, replayed from its journal (blocking work: in a thread)."""
    chain = await asyncio.to_thread(
        EmbeddedChain,
        funded_accounts={account.address: SENTINEL_BALANCE_WEI},
        chain_id=config.chain_id,
        journal_path=config.data_dir / JOURNAL_FILE,
    )
    app = create_rpc_app(chain)
    return await start_listener(Listener("chain JSON-RPC", app, config.host, config.rpc_port))


async def run_sentinel(config: SentinelConfig, announce) -> None:  # type: ignore[no-untyped-def]
    """Serve until SIGINT/SIGTERM. `announce(info)` is told the URLs and token once ready."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    account = _load_key(config)
    token = load_or_create_token(config.data_dir / "join-token", config.join_token)
    stop = stop_event_on_signals()
    runners: list[web.AppRunner] = []
    try:
        if config.chain_url:
            rpc_url = config.chain_url
        else:
            runners.append(await _start_embedded_chain(config, account))
            rpc_url = _public(config, config.rpc_port)
        file_url = _public(config, config.file_port)
        contract = await asyncio.to_thread(
            deploy_or_reuse,
            rpc_url=rpc_url,
            account=account,
            file_url=file_url,
            data_dir=config.data_dir,
        )
        pipeline = await asyncio.to_thread(
            deploy_pipeline_contract, swarm=contract, data_dir=config.data_dir
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
        service = PipelineService(registry=contract, store=store, pipeline_address=pipeline.address)
        runners.append(
            await start_listener(
                Listener(
                    "REST API", create_rest_app(context, service), config.host, config.rest_port
                )
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
