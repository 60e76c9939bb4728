"""Which sharding a training asks for, and whether a joining learner's settings agree with
the one on chain (docs/ARCHITECTURE.md, "Sharded merge")."""

from __future__ import annotations

from swarm_learning.merge import MergeChoice
from swarm_learning.settings import LearnerSettings
from swarm_learning.sharding.plan import default_sharding
from swarm_learning.weights import WeightSchema
from swarm_network.chain.sharding import Sharding
from swarm_network.errors import ConfigError


def requested_sharding(
    settings: LearnerSettings, merge: MergeChoice, schema: WeightSchema, learners: int
) -> Sharding | None:
    """The sharding the training's first learner records: as its settings say, or (no
    `shards` given) the default for `learners` learners and the model's size, never for a
    method that compares whole models."""
    if settings.shards == 0:
        return None
    if settings.shards is None:
        if not merge.method.coordinate_wise:
            return None
        chosen = default_sharding(learners, schema.num_elements)
        if chosen is None:
            return None
        return Sharding(shards=chosen.shards, replication=settings.shard_replication)
    if not merge.method.coordinate_wise:
        raise ConfigError(
            f"merge method {merge.name!r} compares whole models and cannot be sharded "
            "(a sharded merge needs a coordinate-wise method: mean, coordmedian, trimmedmean)"
        )
    return Sharding(shards=settings.shards, replication=settings.shard_replication)


def check_agrees(settings: LearnerSettings, on_chain: Sharding | None) -> None:
    """ConfigError when this node names a sharding (`shards` given) other than the chain's."""
    if settings.shards is None:
        return
    wanted = None if settings.shards == 0 else (settings.shards, settings.shard_replication)
    have = None if on_chain is None else (on_chain.shards, on_chain.replication)
    if wanted != have:

        def say(value: tuple[int, int] | None) -> str:
            return "whole models" if value is None else f"{value[0]} shards x {value[1]}"

        raise ConfigError(
            f"this node asks for a merge of {say(wanted)} but the swarm's training merges "
            f"{say(have)}"
        )
