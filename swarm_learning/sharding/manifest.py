"""The two small JSON files that tie shard files to the chain (docs/ARCHITECTURE.md, "Sharded
merge"): a contribution's manifest (the sha256 of each of its shard slices; its own sha256 is
the weight hash checked in, so one hash on chain commits to every slice) and a merger's
manifest of the shards it merged at a step (its sha256 is the root it reports). Both come
from peers: every field is checked, and anything else is refused with InvalidWeights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from swarm_network.errors import InvalidWeights
from swarm_network.files.store import is_sha256_hex

CONTRIBUTION_FORMAT = "swarm-shards/1"
MERGED_FORMAT = "swarm-merged-shards/1"
#: The most bytes a manifest may have: a hash (and a few names) per shard, with room.
MANIFEST_BYTES_PER_SHARD = 4096
MANIFEST_BYTES_EXTRA = 4096


def max_manifest_bytes(shards: int) -> int:
    return MANIFEST_BYTES_EXTRA + MANIFEST_BYTES_PER_SHARD * shards


def _dump(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _load(data: bytes, fmt: str) -> dict:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise InvalidWeights(f"shard manifest is not JSON: {exc}") from exc
    if not isinstance(value, dict) or value.get("format") != fmt:
        raise InvalidWeights(f"not a {fmt} manifest")
    return value


def _hash(value: object, what: str) -> str:
    if not is_sha256_hex(value):
        raise InvalidWeights(f"shard manifest: {what} is not a sha256 hex: {value!r}")
    return str(value)


@dataclass(frozen=True)
class ContributionManifest:
    """A contribution cut into shards: the sha256 of each slice file, in shard order."""

    schema: str  # the model's schema digest
    shards: tuple[str, ...]

    def to_bytes(self) -> bytes:
        return _dump(
            {"format": CONTRIBUTION_FORMAT, "schema": self.schema, "shards": list(self.shards)}
        )

    @classmethod
    def parse(cls, data: bytes, *, schema: str, shard_count: int) -> ContributionManifest:
        value = _load(data, CONTRIBUTION_FORMAT)
        if value.get("schema") != schema:
            raise InvalidWeights("shard manifest is for another model (schema digest differs)")
        shards = value.get("shards")
        if not isinstance(shards, list) or len(shards) != shard_count:
            raise InvalidWeights(f"shard manifest must list {shard_count} shard hashes")
        return cls(schema=schema, shards=tuple(_hash(h, "a shard") for h in shards))


@dataclass(frozen=True)
class MergedShard:
    """One shard as a merger merged it: its file's sha256, and whose slices went in."""

    sha: str
    merged_from: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class MergedManifest:
    """What one merger published for a step: its merged shards, by shard index."""

    step: int
    shards: dict[int, MergedShard]

    def to_bytes(self) -> bytes:
        shards = {
            str(k): {"sha": s.sha, "merged_from": list(s.merged_from), "refused": s.refused}
            for k, s in self.shards.items()
        }
        return _dump({"format": MERGED_FORMAT, "step": self.step, "shards": shards})

    @classmethod
    def parse(cls, data: bytes, *, step: int, shard_count: int) -> MergedManifest:
        value = _load(data, MERGED_FORMAT)
        if value.get("step") != step:
            raise InvalidWeights(f"merged-shards manifest is not for step {step}")
        raw = value.get("shards")
        if not isinstance(raw, dict):
            raise InvalidWeights("merged-shards manifest has no shards")
        shards = {}
        for key, entry in raw.items():
            if not (isinstance(key, str) and key.isdigit() and int(key) < shard_count):
                raise InvalidWeights(f"merged-shards manifest: no shard {key!r}")
            if not isinstance(entry, dict):
                raise InvalidWeights(f"merged-shards manifest: shard {key} is not an object")
            merged_from = entry.get("merged_from")
            refused = entry.get("refused")
            if not isinstance(merged_from, list) or not all(
                isinstance(a, str) for a in merged_from
            ):
                raise InvalidWeights(f"merged-shards manifest: shard {key} has bad merged_from")
            if not isinstance(refused, list) or not all(
                isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) for x in r)
                for r in refused
            ):
                raise InvalidWeights(f"merged-shards manifest: shard {key} has bad refused")
            shards[int(key)] = MergedShard(
                sha=_hash(entry.get("sha"), f"shard {key}"),
                merged_from=tuple(merged_from),
                refused=tuple((r[0], r[1]) for r in refused),
            )
        return cls(step=step, shards=shards)
