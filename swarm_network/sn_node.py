"""An SN node that is not the sentinel: it is admitted through the sentinel, then runs the same
node lifecycle as the sentinel does (`swarm_network.node_host`): REST API over chain state,
file server, model archive."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import requests
from aiohttp import web
from eth_account.signers.local import LocalAccount

from swarm_network.admission import sign_join
from swarm_network.backoff import Backoff
from swarm_network.chain import SwarmContract, connect
from swarm_network.chain.identity import load_or_create_key
from swarm_network.errors import AdmissionError, ChainUnavailable
from swarm_network.http_json import get_json
from swarm_network.node_host import (
    FILE_STORE,
    Announce,
    LifecycleStep,
    NodeConfig,
    create_node_app,
    run_node,
)
from swarm_network.pipeline.rest import PIPELINE, PipelineService
from swarm_network.rest.app import CONTEXT, NodeContext

log = logging.getLogger(__name__)

# The sentinel may still be starting (replaying its chain) or restarting: wait this long.
SENTINEL_WAIT = Backoff(first_s=0.1, max_s=1.0, deadline_s=60.0)
JOIN_TIMEOUT_S = 60.0  # the sentinel enrols and funds the node on chain before it answers


@dataclass(frozen=True, kw_only=True)
class SnConfig(NodeConfig):
    sentinel_url: str
    join_token: str


def _join(config: SnConfig, account: LocalAccount, file_url: str) -> dict[str, Any]:
    """Ask the sentinel to enrol this node. ChainUnavailable: try again later (the sentinel
    or its chain is not up); AdmissionError: refused, trying again will not help."""
    try:
        response = requests.post(
            f"{config.sentinel_url}/v1/join",
            json={
                "address": account.address,
                "role": "network",
                "file_url": file_url,
                "signature": sign_join(account, "network", file_url),
                "token": config.join_token,
            },
            timeout=JOIN_TIMEOUT_S,
        )
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ChainUnavailable(f"the sentinel did not answer the join: {exc}") from exc
    error = body.get("error") if isinstance(body, dict) else body
    if response.status_code == 403:
        raise AdmissionError(f"the sentinel refused this node: {error}")
    if response.status_code >= 500:
        raise ChainUnavailable(f"join failed ({response.status_code}): {error}")
    if response.status_code >= 400:
        raise AdmissionError(f"join failed ({response.status_code}): {error}")
    return body


async def _admitted(config: SnConfig, account: LocalAccount, file_url: str) -> dict[str, Any]:
    """The sentinel's chain info once it has admitted this node, retried with backoff while
    the sentinel cannot be reached; a signal to stop cancels the wait."""
    error: ChainUnavailable | None = None
    async for _attempt in SENTINEL_WAIT.async_sleeps():
        try:
            chain = await asyncio.to_thread(get_json, f"{config.sentinel_url}/v1/chain")
            await asyncio.to_thread(_join, config, account, file_url)
            return chain
        except ChainUnavailable as exc:
            if error is None:
                log.info("waiting for the sentinel at %s: %s", config.sentinel_url, exc)
            error = exc
    raise ChainUnavailable(
        f"no admission by the sentinel at {config.sentinel_url} "
        f"within {SENTINEL_WAIT.deadline_s:.0f}s: {error}"
    )


def _join_through_sentinel(config: SnConfig, account: LocalAccount) -> LifecycleStep:
    """The SN node's role start-up: admitted through the sentinel, on the sentinel's chain."""

    async def join(app: web.Application) -> AsyncIterator[None]:
        file_url = config.public_url(config.file_port)
        chain = await _admitted(config, account, file_url)
        contract = SwarmContract(
            w3=connect(chain["rpc_url"]), address=chain["contract_address"], account=account
        )
        if not await asyncio.to_thread(contract.code_matches_artifact):
            raise AdmissionError(
                f"the contract at {contract.address} is not this version's SwarmLearning contract"
            )
        app[PIPELINE] = PipelineService(
            registry=contract, store=app[FILE_STORE], sentinel_url=config.sentinel_url
        )
        app[CONTEXT] = NodeContext(
            role="sn",
            address=account.address,
            contract=contract,
            chain_rpc_url=chain["rpc_url"],
            file_url=file_url,
            sentinel_url=config.sentinel_url,
        )
        yield

    return join


async def run_sn(config: SnConfig, announce: Announce) -> None:
    """Serve until SIGINT/SIGTERM. `announce(info)` is told the node's URLs once ready."""
    account = load_or_create_key(config.data_dir / "node.key")
    await run_node(create_node_app(config, _join_through_sentinel(config, account)), announce)
