"""Deciding each merged shard of a step from the mergers' published roots, and fetching it
(docs/ARCHITECTURE.md, "Sharded merge"). A shard is taken when a strict majority of its
assigned mergers published the same hash (1 of 1, 2 of 2, 2 of 3); when they disagree
(a wrong shard is detected), when a majority can no longer come, or when its mergers have
not all published after `shard_timeout_s` (one died), this node merges the shard itself
from the contributions' slices: the step never waits on one merger, and a lying merger is
outvoted (r >= 3) or found out (r = 2) and named in the round's `shard_faults`."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from swarm_learning.sharding.manifest import MergedManifest, MergedShard, max_manifest_bytes
from swarm_learning.sharding.plan import ShardPlan
from swarm_learning.sharding.shard_merge import ShardResult
from swarm_learning.weight_file import max_file_bytes
from swarm_learning.weights import decode_weights, validate
from swarm_network.backoff import Backoff
from swarm_network.chain import SwarmContract
from swarm_network.chain.sharding import shard_roots
from swarm_network.errors import SwarmError
from swarm_network.files.fetch import Fetcher, outcome

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


@dataclass
class Assembly:
    """The step's shards as they are decided: their slices, and what it took."""

    slices: dict[int, Arrays] = field(default_factory=dict)
    entries: dict[int, MergedShard] = field(default_factory=dict)
    fetched_bytes: int = 0
    merged_here: list[int] = field(default_factory=list)  # by fallback
    faults: list[str] = field(default_factory=list)  # "shard k: address published sha"


@dataclass
class Deciding:
    """What the assembly of one step works with."""

    contract: SwarmContract
    fetcher: Fetcher
    plan: ShardPlan
    step: int
    mergers: list[tuple[str, ...]]  # by shard
    urls: Callable[[str], str]  # a participant's file-server URL
    merge_here: Callable[[int], ShardResult]  # the fallback: merge a shard from the slices
    timeout_s: float
    poll: Backoff
    manifests: dict[str, MergedManifest | None] = field(default_factory=dict)
    manifest_bytes: int = 0  # of the merged-shards manifests read

    def run(self, own: dict[int, ShardResult]) -> Assembly:
        done = Assembly()
        for shard, result in own.items():
            done.slices[shard], done.entries[shard] = result.arrays, result.entry
        started = time.monotonic()
        for _ in self.poll.sleeps():
            self._read_roots()
            for shard in range(self.plan.count):
                if shard not in done.slices:
                    self._decide(shard, done, timed_out=False)
            if len(done.slices) == self.plan.count:
                break
            if time.monotonic() - started >= self.timeout_s:
                for shard in range(self.plan.count):
                    if shard not in done.slices:
                        self._decide(shard, done, timed_out=True)
                break
        done.fetched_bytes += self.manifest_bytes
        return done

    def _read_roots(self) -> None:
        for address, root in shard_roots(self.contract, self.step).items():
            if address in self.manifests:
                continue
            path = outcome(
                self.fetcher.submit(
                    [self.urls(address)], root, max_bytes=max_manifest_bytes(self.plan.count)
                )
            )
            try:
                if not isinstance(path, Path):
                    raise SwarmError(str(path))
                data = path.read_bytes()
                self.manifest_bytes += len(data)
                self.manifests[address] = MergedManifest.parse(
                    data, step=self.step, shard_count=self.plan.count
                )
            except SwarmError as exc:
                log.warning("merged shards of %s unusable: %s", address, exc)
                self.manifests[address] = None

    def _decide(self, shard: int, done: Assembly, *, timed_out: bool) -> None:
        mergers = self.mergers[shard]
        claims: dict[str, MergedShard] = {}
        silent = 0
        for address in mergers:
            if address not in self.manifests:
                silent += 1
                continue
            manifest = self.manifests[address]
            entry = None if manifest is None else manifest.shards.get(shard)
            if entry is not None:
                claims[address] = entry
        needed = len(mergers) // 2 + 1
        votes = Counter(entry.sha for entry in claims.values())
        best, count = votes.most_common(1)[0] if votes else ("", 0)
        if count >= needed:
            holders = [a for a, e in claims.items() if e.sha == best]
            if self._take(shard, best, holders, claims[holders[0]], done):
                self._name_faults(shard, best, claims, done)
                return
        elif count + silent >= needed and not timed_out:
            return  # a majority may still come
        why = "timed out" if timed_out else "no majority"
        log.warning("step %d shard %d: %s among %s; merging it here", self.step, shard, why,
                    [a[:10] for a in mergers])  # fmt: skip
        result = self.merge_here(shard)
        done.slices[shard], done.entries[shard] = result.arrays, result.entry
        done.fetched_bytes += result.fetched_bytes
        done.merged_here.append(shard)
        self._name_faults(shard, result.entry.sha, claims, done)

    def _take(
        self, shard: int, sha: str, holders: list[str], entry: MergedShard, done: Assembly
    ) -> bool:
        schema = self.plan.slice_schema(shard)
        path = outcome(
            self.fetcher.submit(
                [self.urls(a) for a in holders], sha, max_bytes=max_file_bytes(schema)
            )
        )
        try:
            if not isinstance(path, Path):
                raise SwarmError(str(path))
            arrays = decode_weights(path.read_bytes())
            validate(arrays, schema)
        except SwarmError as exc:
            log.warning("step %d shard %d from %s unusable: %s", self.step, shard, holders, exc)
            return False
        done.slices[shard], done.entries[shard] = arrays, entry
        done.fetched_bytes += path.stat().st_size
        return True

    def _name_faults(
        self, shard: int, right: str, claims: dict[str, MergedShard], done: Assembly
    ) -> None:
        for address, entry in claims.items():
            if entry.sha != right:
                log.warning(
                    "step %d shard %d: %s published %s, not the merge %s",
                    self.step,
                    shard,
                    address,
                    entry.sha[:12],
                    right[:12],
                )
                done.faults.append(f"shard {shard}: {address} published {entry.sha}")
