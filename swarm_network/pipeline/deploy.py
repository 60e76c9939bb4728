"""The sentinel's deployment of the SwarmPipeline contract, beside the SwarmLearning one.

Recorded in the sentinel's `deployment.json` (key `pipeline_contract_address`), so that a
restarted sentinel reuses the contract that holds the pipelines instead of starting afresh.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from swarm_network.chain import SwarmContract
from swarm_network.pipeline.chain import CONTRACT_NAME, PipelineContract

log = logging.getLogger(__name__)

DEPLOYMENT_FILE = "deployment.json"
RECORD_KEY = "pipeline_contract_address"
DEPLOY_GAS = 6_000_000


def _reusable(swarm: SwarmContract, address: str) -> PipelineContract | None:
    pipeline = PipelineContract.beside(swarm, address)
    if not pipeline.code_matches_artifact():
        return None
    if pipeline.registry() != swarm.address:
        return None
    return pipeline


def deploy_pipeline_contract(*, swarm: SwarmContract, data_dir: Path) -> PipelineContract:
    """The pipeline contract recorded in `data_dir/deployment.json` if the chain still holds it
    (and it belongs to `swarm`), else a new one, recorded there for the next start."""
    record_path = data_dir / DEPLOYMENT_FILE
    record: dict[str, Any] = {}
    if record_path.exists():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        recorded = record.get(RECORD_KEY)
        if recorded:
            pipeline = _reusable(swarm, recorded)
            if pipeline is not None:
                log.info("reusing the pipeline contract at %s", pipeline.address)
                return pipeline
            log.warning("the recorded pipeline contract is not usable; deploying a new one")
    address = swarm.deploy_beside(CONTRACT_NAME, swarm.address, gas=DEPLOY_GAS)
    log.info("deployed %s at %s", CONTRACT_NAME, address)
    record[RECORD_KEY] = address
    tmp = record_path.with_suffix(".pipeline.tmp")
    tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
    os.replace(tmp, record_path)
    return PipelineContract.beside(swarm, address)
