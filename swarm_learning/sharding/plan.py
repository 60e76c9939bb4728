"""The cut of a model into shards and who merges which shard at a step (docs/ARCHITECTURE.md,
"Sharded merge"). Both read only the model's schema and chain data, so every learner cuts
the same way and agrees on the mergers without a message.

The cut: the flat coordinates of `weights.flatten` (tensors by name, each in C order) in
`shards` consecutive ranges of near-equal length. A shard's slice of a model is, for each
tensor the range overlaps, the 1-D run of that tensor's values inside the range, under the
tensor's name and in its dtype: a small safetensors file of its own (`slice_schema`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from swarm_learning.weights import TensorSpec, WeightSchema
from swarm_network.chain.sharding import Sharding

Arrays = dict[str, np.ndarray]

#: Below this many coordinates (4 M) a model is small enough that sharding saves less than its
#: second transfer phase costs: measured on one host (README, "Sharded merge"), a 1 M model's
#: step was slower sharded, a 10 M model's at P = 8 twice as fast. The default is then to
#: merge whole models.
MIN_SHARDED_ELEMENTS = 1 << 22
#: Below this many learners the saving (1 - 2/P of the download... at P = 3 a third) is not
#: worth a second transfer phase: the default is then to merge whole models.
MIN_SHARDED_LEARNERS = 4
#: Shards per learner by default: the busiest learner merges ceil(shards / P) shards, so
#: many small shards keep its load within a few per cent of the mean (docs/ARCHITECTURE.md).
SHARDS_PER_LEARNER = 16
#: No shard smaller than this many coordinates (the per-file overhead stays negligible).
MIN_SHARD_ELEMENTS = 1 << 12


def default_sharding(learners: int, num_elements: int) -> Sharding | None:
    """The sharding a training gets when its first learner names none: none for small
    swarms and small models, else `SHARDS_PER_LEARNER` shards per learner, one merger each."""
    if learners < MIN_SHARDED_LEARNERS or num_elements < MIN_SHARDED_ELEMENTS:
        return None
    shards = min(SHARDS_PER_LEARNER * learners, max(2, num_elements // MIN_SHARD_ELEMENTS))
    return Sharding(shards=shards, replication=1)


@dataclass(frozen=True)
class ShardPlan:
    """The cut of `schema`'s flat coordinates into `shards` ranges (at most one per
    coordinate: a tiny model gets fewer, never an empty shard)."""

    schema: WeightSchema
    shards: int

    @cached_property
    def count(self) -> int:
        return max(1, min(self.shards, self.schema.num_elements))

    def bounds(self, shard: int) -> tuple[int, int]:
        """The flat coordinates [start, stop) of `shard`."""
        size = self.schema.num_elements
        return shard * size // self.count, (shard + 1) * size // self.count

    @cached_property
    def _tensor_starts(self) -> list[int]:
        return np.concatenate([[0], np.cumsum([t.num_elements for t in self.schema.tensors])])

    def pieces(self, shard: int) -> list[tuple[TensorSpec, int, int]]:
        """(tensor, first, last) of each tensor's run inside `shard`, in schema order."""
        start, stop = self.bounds(shard)
        out = []
        for index, spec in enumerate(self.schema.tensors):
            begin = int(self._tensor_starts[index])
            first, last = max(start, begin), min(stop, begin + spec.num_elements)
            if first < last:
                out.append((spec, first - begin, last - begin))
        return out

    def slice_schema(self, shard: int) -> WeightSchema:
        """The layout of a shard's slice: one 1-D tensor per tensor it overlaps."""
        return WeightSchema(
            tensors=tuple(
                TensorSpec(spec.name, (last - first,), spec.dtype)
                for spec, first, last in self.pieces(shard)
            )
        )

    def slice_of(self, arrays: Mapping[str, np.ndarray], shard: int) -> Arrays:
        """`shard`'s slice of a model (views, not copies)."""
        return {
            spec.name: np.asarray(arrays[spec.name]).reshape(-1)[first:last]
            for spec, first, last in self.pieces(shard)
        }

    def assemble(self, slices: Sequence[Mapping[str, np.ndarray]]) -> Arrays:
        """The model from all its shards' slices, in shard order: each tensor's runs
        concatenated and reshaped (the same values, hence the same file, as the whole)."""
        if len(slices) != self.count:
            raise ValueError(f"{len(slices)} slices for a cut into {self.count} shards")
        runs: dict[str, list[np.ndarray]] = {spec.name: [] for spec in self.schema.tensors}
        for shard, piece in enumerate(slices):
            for spec, _, _ in self.pieces(shard):
                runs[spec.name].append(np.asarray(piece[spec.name]).reshape(-1))
        out: Arrays = {}
        for spec in self.schema.tensors:
            parts = runs[spec.name]
            flat = np.concatenate(parts) if parts else np.empty(0, dtype=spec.dtype)
            out[spec.name] = flat.astype(spec.dtype, copy=False).reshape(spec.shape)
        return out


def assign_mergers(
    step: int, participants: Sequence[str], shard_count: int, replication: int
) -> list[tuple[str, ...]]:
    """Each shard's mergers at `step`: the participants in an order shuffled by
    sha256(step, address), shard k to the `replication` participants from position k on
    (cyclically). Every participant then merges either floor or ceil of
    shard_count x replication / P shards: the load is even, and it moves from step to step."""
    if not participants:
        return [() for _ in range(shard_count)]
    order = sorted(
        (a.lower() for a in participants),
        key=lambda a: hashlib.sha256(f"{step}:{a}".encode()).digest(),
    )
    by_lower = {a.lower(): a for a in participants}
    copies = min(replication, len(order))
    return [
        tuple(by_lower[order[(k + j) % len(order)]] for j in range(copies))
        for k in range(shard_count)
    ]
