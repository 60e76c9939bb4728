"""A contribution published shard by shard, and one shard merged from the step's
contributions (docs/ARCHITECTURE.md, "Sharded merge"). A shard is merged by the very
`merge_step` that merges whole models, over the shard's slice schema: the methods that may
be sharded are coordinate-wise, so each merged coordinate has the same bits as in the whole
merge, and so has the model assembled from the merged shards."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from swarm_learning.eligibility import merge_weight
from swarm_learning.merge import Contributor, MergeChoice, OwnModel, merge_step
from swarm_learning.sharding.manifest import ContributionManifest, MergedShard
from swarm_learning.sharding.plan import ShardPlan
from swarm_learning.weight_file import max_file_bytes
from swarm_learning.weights import encode_weights
from swarm_network.chain.records import Contribution
from swarm_network.errors import SwarmError
from swarm_network.files.fetch import Fetcher
from swarm_network.files.store import FileStore

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]

#: A refusal's reason as a merged-shards manifest carries it, at most this long.
REASON_CHARS = 200


def publish_contribution(store: FileStore, arrays: Arrays, plan: ShardPlan) -> str:
    """Store `arrays` as one slice file per shard plus their manifest; the manifest's sha256
    (the weight hash to check in)."""
    hashes = tuple(
        store.put_bytes(encode_weights(plan.slice_of(arrays, k))) for k in range(plan.count)
    )
    manifest = ContributionManifest(schema=plan.schema.digest(), shards=hashes)
    return store.put_bytes(manifest.to_bytes())


@dataclass(frozen=True)
class Source:
    """One eligible contribution whose manifest was delivered: where its slices are."""

    contribution: Contribution
    url: str
    manifest: ContributionManifest


@dataclass(frozen=True)
class ShardResult:
    """A shard merged by this node: its slice (arrays), stored file, and manifest entry."""

    arrays: Arrays
    entry: MergedShard
    fetched_bytes: int


def merge_shard(
    *,
    plan: ShardPlan,
    shard: int,
    sources: list[Source],
    own: tuple[str, Arrays],
    choice: MergeChoice,
    fetcher: Fetcher,
    store: FileStore,
) -> ShardResult:
    """Merge `shard` from the slices of `sources` (in the swarm's address order), fetched
    and verified against their manifests; `own` is this node's manifest hash and arrays
    (its slice is read from memory). SwarmError if no slice could be merged."""
    own_hash, own_arrays = own
    schema = plan.slice_schema(shard)
    own_slice_hash = next(
        (s.manifest.shards[shard] for s in sources if s.contribution.weight_hash == own_hash),
        None,
    )
    wanted = [s for s in sources if s.contribution.weight_hash != own_hash]
    got = fetcher.fetch_many(
        [(s.url, s.manifest.shards[shard]) for s in wanted], max_bytes=max_file_bytes(schema)
    )
    files: dict[str, Path] = {}
    refused: list[tuple[str, str]] = []
    for s in wanted:
        result = got[s.manifest.shards[shard]]
        if isinstance(result, Path):
            files[s.manifest.shards[shard]] = result
        else:
            log.warning("shard %d of %s missing: %s", shard, s.contribution.address, result)
            refused.append((s.contribution.address, str(result)[:REASON_CHARS]))
    contributors = [
        Contributor(s.contribution.address, s.manifest.shards[shard], merge_weight(s.contribution))
        for s in sources
    ]
    merged = merge_step(
        contributors,
        files,
        own=OwnModel(own_slice_hash or "", plan.slice_of(own_arrays, shard)),
        schema=schema,
        choice=choice,
    )
    if not merged.merged_from:
        raise SwarmError(f"no slice of shard {shard} could be merged")
    sha = store.put_bytes(encode_weights(merged.arrays))
    refused += [(a, r[:REASON_CHARS]) for a, r in merged.refused]
    entry = MergedShard(sha=sha, merged_from=merged.merged_from, refused=tuple(refused))
    fetched = sum(path.stat().st_size for path in files.values())
    return ShardResult(arrays=merged.arrays, entry=entry, fetched_bytes=fetched)
