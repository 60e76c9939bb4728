"""The deployer's side: join the swarm with its own key, upload a packaged swarm to its SN
node, record it on chain, and stop it later. Reading swarms goes through the SN node's REST.

The deployer joins like every node (join token, own key, `network` role) with its SN node's
file server as its file URL: that is where the files it deployed are served from.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import requests

from swarm_learning.node import sn_request
from swarm_learning.pipeline.package import Package, chain_tasks
from swarm_network.admission import sign_join
from swarm_network.chain import SwarmContract, connect
from swarm_network.chain.identity import load_or_create_key
from swarm_network.errors import ChainError, ConfigError, SwarmError
from swarm_network.pipeline.chain import PipelineContract
from swarm_network.pipeline.rest import ADDRESS_HEADER, SIGNATURE_HEADER, sign_upload

log = logging.getLogger(__name__)

SN_WAIT_S = 30.0
UPLOAD_TIMEOUT_S = 120.0


def get_doc(sn_url: str, path: str, **params: Any) -> dict[str, Any]:
    try:
        response = requests.get(f"{sn_url}{path}", params=params or None, timeout=60)
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ChainError(f"cannot read {sn_url}{path}: {exc}") from exc
    if response.status_code >= 400:
        raise SwarmError(f"{path}: {body.get('error', response.status_code)}")
    return body


class SwarmClient:
    def __init__(self, *, sn_url: str, key_file: Path, join_token: str | None) -> None:
        self.sn_url = sn_url.rstrip("/")
        self.account = load_or_create_key(key_file)
        self.join_token = join_token

    def _connect(self) -> tuple[SwarmContract, PipelineContract]:
        chain = sn_request("GET", f"{self.sn_url}/v1/chain", wait_s=SN_WAIT_S)
        health = sn_request("GET", f"{self.sn_url}/v1/health", wait_s=SN_WAIT_S)
        info = sn_request("GET", f"{self.sn_url}/v1/pipeline", wait_s=SN_WAIT_S)
        w3 = connect(f"{self.sn_url}{chain['rpc_proxy_path']}")
        registry = SwarmContract(w3=w3, address=chain["contract_address"], account=self.account)
        if registry.node(self.account.address).role == "none":
            if not self.join_token:
                raise ConfigError("not enrolled yet: pass --join-token (or SWARM_JOIN_TOKEN)")
            file_url = registry.node(health["address"]).file_url
            sn_request(
                "POST",
                f"{self.sn_url}/v1/join",
                wait_s=SN_WAIT_S,
                json={
                    "address": self.account.address,
                    "role": "network",
                    "file_url": file_url,
                    "signature": sign_join(self.account, "network", file_url),
                    "token": self.join_token,
                },
            )
        pipeline = PipelineContract.beside(registry, info["contract_address"])
        return registry, pipeline

    def _upload(self, sha: str, data: bytes) -> None:
        try:
            response = requests.put(
                f"{self.sn_url}/v1/pipeline/files/{sha}",
                data=data,
                headers={
                    ADDRESS_HEADER: self.account.address,
                    SIGNATURE_HEADER: sign_upload(self.account, sha),
                    "Content-Type": "application/octet-stream",
                },
                timeout=UPLOAD_TIMEOUT_S,
            )
        except requests.RequestException as exc:
            raise ChainError(f"upload of {sha} to {self.sn_url} failed: {exc}") from exc
        if response.status_code != 200:
            raise SwarmError(f"upload of {sha} refused: {response.text[:300]}")

    def deploy(self, package: Package) -> int:
        _, pipeline = self._connect()
        for sha, data in package.files.items():
            self._upload(sha, data)
        settings = package.manifest["settings"]
        pipeline_id = pipeline.deploy_pipeline(
            manifest_hash=package.manifest_hash,
            name=package.manifest["name"],
            tasks=chain_tasks(package.manifest),
            sinks=[
                [t["alias"] for t in package.manifest["tasks"]].index(alias)
                for alias in package.manifest["sinks"]
            ],
            task_timeout_s=settings["task_timeout_s"],
            max_iterations=settings["max_iterations"],
        )
        log.info("deployed swarm %d (%s)", pipeline_id, package.manifest_hash)
        return pipeline_id

    def stop(self, pipeline_id: int) -> None:
        _, pipeline = self._connect()
        pipeline.stop_pipeline(pipeline_id)
