"""The sentinel process: the embedded chain behind JSON-RPC, the contract deployment, and the
sentinel's own SN node (REST + file server) that admits the other nodes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from eth_account.signers.local import LocalAccount

from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.rpc_server import create_rpc_app
from swarm_network.admission import Admission
from swarm_network.chain import SwarmContract, connect
from swarm_network.chain.identity import load_or_create_key
from swarm_network.defaults import CHAIN_ID, CHAIN_RPC, RPC_PORT
from swarm_network.errors import ConfigError
from swarm_network.node_host import (
    FILE_STORE,
    Announce,
    LifecycleStep,
    NodeConfig,
    create_node_app,
    run_node,
)
from swarm_network.pipeline.deploy import deploy_pipeline_contract
from swarm_network.pipeline.rest import PIPELINE, PipelineService
from swarm_network.rest.app import CONTEXT, NodeContext
from swarm_network.serve import Listener, start_listener

log = logging.getLogger(__name__)

SENTINEL_BALANCE_WEI = 10**9 * 10**18  # enough to fund thousands of nodes
DEPLOYMENT_FILE = "deployment.json"
JOURNAL_FILE = "chain.journal"
TOKEN_FILE = "join-token"


@dataclass(frozen=True, kw_only=True)
class SentinelConfig(NodeConfig):
    rpc_port: int = RPC_PORT
    join_token: str | None = None
    chain_id: int = CHAIN_ID
    chain_url: str | None = None  # an existing Ethereum JSON-RPC endpoint instead of embedded
    key_file: Path | None = None  # the sentinel's key; on an external chain it must hold funds


CHAIN_RPC_URL = web.AppKey("chain_rpc_url", str)  # the chain the sentinel deploys on


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


def _embedded_chain(config: SentinelConfig, account: LocalAccount) -> LifecycleStep:
    """The embedded chain behind its JSON-RPC listener, first up and last down."""

    async def serve_chain(app: web.Application) -> AsyncIterator[None]:
        # Replaying the journal is blocking work: in a thread.
        chain = await asyncio.to_thread(
            EmbeddedChain,
            funded_accounts={account.address: SENTINEL_BALANCE_WEI},
            chain_id=config.chain_id,
            journal_path=config.data_dir / JOURNAL_FILE,
        )
        try:
            runner = await start_listener(
                Listener(CHAIN_RPC, create_rpc_app(chain), config.host, config.rpc_port)
            )
        except BaseException:
            chain.close()
            raise
        app[CHAIN_RPC_URL] = config.public_url(config.rpc_port)
        yield
        await runner.cleanup()
        await asyncio.to_thread(chain.close)

    return serve_chain


def _swarm_contract(config: SentinelConfig, account: LocalAccount, token: str) -> LifecycleStep:
    """The swarm's contract (deployed or reused) and the sentinel's context: it admits nodes."""

    async def deploy(app: web.Application) -> AsyncIterator[None]:
        rpc_url = app[CHAIN_RPC_URL]
        file_url = config.public_url(config.file_port)
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
        app[PIPELINE] = PipelineService(
            registry=contract, store=app[FILE_STORE], pipeline_address=pipeline.address
        )
        app[CONTEXT] = NodeContext(
            role="sentinel",
            address=account.address,
            contract=contract,
            chain_rpc_url=rpc_url,
            file_url=file_url,
            admission=Admission(contract=contract, join_token=token),
        )
        yield

    return deploy


async def run_sentinel(config: SentinelConfig, announce: Announce) -> None:
    """Serve until SIGINT/SIGTERM. `announce(info)` is told the URLs and token once ready."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    account = _load_key(config)
    token = load_or_create_token(config.data_dir / TOKEN_FILE, config.join_token)
    contract = _swarm_contract(config, account, token)
    if config.chain_url is None:
        app = create_node_app(config, _embedded_chain(config, account), contract)
    else:
        app = create_node_app(config, contract)
        app[CHAIN_RPC_URL] = config.chain_url  # someone else's chain: nothing to start

    def announce_with_token(info: dict[str, str]) -> None:
        announce({**info, "join_token": token})

    await run_node(app, announce_with_token)
