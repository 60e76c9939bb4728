"""Bindings of the contract's sharded-merge records (docs/ARCHITECTURE.md, "Sharded merge"):
how a training cuts its model (set with the training, in one transaction) and the root of the
merged shards each participant of a step published. Apart from `contract.py`, whose step
rules they do not touch."""

from __future__ import annotations

from dataclasses import dataclass

from swarm_network.chain.contract import SwarmContract
from swarm_network.chain.records import ZERO_HASH, hash_to_hex, hex_to_hash
from swarm_network.chain.transport import retrying


@dataclass(frozen=True)
class Sharding:
    """How a sharded training cuts its model: into `shards` pieces, each merged by
    `replication` participants of the step."""

    shards: int
    replication: int


def configure_sharded_training(
    contract: SwarmContract,
    *,
    min_peers: int,
    grace_seconds: int,
    merge_method: str,
    merge_params: str,
    sharding: Sharding,
    max_staleness: int = 0,
    schema_hash: str = ZERO_HASH,
) -> None:
    """`SwarmContract.configure_training` plus the training's sharding, atomically."""
    contract.transact(
        "configureShardedTraining",
        min_peers,
        grace_seconds,
        max_staleness,
        hex_to_hash(schema_hash),
        merge_method,
        merge_params,
        sharding.shards,
        sharding.replication,
    )


def training_sharding(contract: SwarmContract) -> Sharding | None:
    """The training's sharding as recorded on chain; None: it merges whole models."""
    shards, replication = _read(contract, "getSharding")
    if int(shards) == 0:
        return None
    return Sharding(shards=int(shards), replication=int(replication))


def report_shards(contract: SwarmContract, step: int, root: str) -> None:
    """Publish the root (sha256 of the merged-shards manifest) of this node's merged shards."""
    contract.transact("reportShards", step, hex_to_hash(root), dry_run=False)


def shard_roots(contract: SwarmContract, step: int) -> dict[str, str]:
    """The roots reported for `step`, by participant address (those not reported left out)."""
    nodes, roots = _read(contract, "getShardRoots", step)
    out = {}
    for address, root in zip(nodes, roots, strict=True):
        text = hash_to_hex(root)
        if text != ZERO_HASH:
            out[str(address)] = text
    return out


def _read(contract: SwarmContract, function_name: str, *args: object) -> tuple:
    fn = getattr(contract.contract.functions, function_name)(*args)
    return retrying(function_name, fn.call, retry_s=contract.retry_s)
