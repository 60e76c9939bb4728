"""The parts of the sharded merge that need no swarm (docs/ARCHITECTURE.md, "Sharded merge"):
the cut, the assignment of mergers, the manifests a peer sends (refused by name when bad),
the training's choice of sharding; and the contract's records of both, on the embedded
chain."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest
from eth_account import Account
from round_swarm import Chain, running_chain
from shard_swarm import model_arrays

from swarm_learning.merge import choose_merge
from swarm_learning.settings import LearnerSettings
from swarm_learning.sharding.choice import check_agrees, requested_sharding
from swarm_learning.sharding.manifest import ContributionManifest, MergedManifest, MergedShard
from swarm_learning.sharding.plan import ShardPlan, assign_mergers, default_sharding
from swarm_learning.weights import TensorSpec, WeightSchema, encode_weights, flatten
from swarm_network.chain import SwarmContract, connect
from swarm_network.chain.sharding import (
    Sharding,
    configure_sharded_training,
    report_shards,
    shard_roots,
    training_sharding,
)
from swarm_network.errors import ConfigError, ContractRevert, InvalidWeights

SCHEMA = WeightSchema.from_arrays(model_arrays(0))
H = "ab" * 32


@pytest.mark.parametrize("shards", [2, 7, 64, 10**6])
def test_the_cut_covers_every_coordinate_once_and_assembles_the_same_file(shards: int) -> None:
    plan = ShardPlan(SCHEMA, shards)
    assert plan.count == min(shards, SCHEMA.num_elements)
    bounds = [plan.bounds(k) for k in range(plan.count)]
    assert bounds[0][0] == 0 and bounds[-1][1] == SCHEMA.num_elements
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(bounds, bounds[1:], strict=False))
    arrays = model_arrays(3)
    slices = [plan.slice_of(arrays, k) for k in range(plan.count)]
    for k, piece in enumerate(slices):
        start, stop = plan.bounds(k)
        joined = np.concatenate([np.asarray(v, dtype=np.float64) for v in piece.values()])
        assert np.array_equal(joined, flatten(arrays, SCHEMA)[start:stop])
        assert {n: v.dtype for n, v in piece.items()} == {
            t.name: np.dtype(t.dtype) for t in plan.slice_schema(k).tensors
        }
    assert encode_weights(plan.assemble(slices)) == encode_weights(arrays)


def test_mergers_are_distinct_even_and_the_same_for_everyone() -> None:
    people = [Account.create().address for _ in range(5)]
    mergers = assign_mergers(3, people, 40, 3)
    assert mergers == assign_mergers(3, list(reversed(people)), 40, 3)
    assert all(len(set(m)) == 3 for m in mergers)
    load = Counter(a for m in mergers for a in m)
    assert set(load) == set(people) and max(load.values()) - min(load.values()) <= 1
    # The load moves from step to step: one step repeats another's order with chance 1/5!,
    # so look across ten steps rather than at the next one alone.
    assert len({tuple(assign_mergers(s, people, 40, 3)) for s in range(3, 13)}) > 1
    assert all(len(m) == 2 for m in assign_mergers(0, people[:2], 4, 3))


def test_the_default_is_whole_models_for_small_swarms_and_small_models() -> None:
    assert default_sharding(3, 10**7) is None
    assert default_sharding(8, 10_000) is None
    chosen = default_sharding(8, 10**7)
    assert chosen is not None and chosen.shards == 128 and chosen.replication == 1


def test_the_training_asks_for_sharding_only_with_a_coordinate_wise_method() -> None:
    big = WeightSchema(tensors=(TensorSpec(name="w", shape=(10**7,), dtype="float32"),))
    mid = WeightSchema(tensors=(TensorSpec(name="w", shape=(10**6,), dtype="float32"),))
    settings = LearnerSettings.resolve({}, environ={})
    assert requested_sharding(settings, choose_merge("mean", {}), mid, 8) is None
    assert requested_sharding(settings, choose_merge("mean", {}), big, 8) == Sharding(128, 1)
    assert requested_sharding(settings, choose_merge("krum", {}), big, 8) is None
    explicit = LearnerSettings.resolve({"shards": 6, "shard_replication": 2}, environ={})
    assert requested_sharding(explicit, choose_merge("coordmedian", {}), SCHEMA, 2) == Sharding(
        6, 2
    )
    with pytest.raises(ConfigError, match="cannot be sharded"):
        requested_sharding(explicit, choose_merge("geomedian", {}), SCHEMA, 8)
    off = LearnerSettings.resolve({"shards": 0}, environ={})
    assert requested_sharding(off, choose_merge("mean", {}), big, 8) is None
    check_agrees(settings, Sharding(6, 2))  # names none: takes the chain's
    check_agrees(explicit, Sharding(6, 2))
    with pytest.raises(ConfigError, match="6 shards x 2 but the swarm's training merges whole"):
        check_agrees(explicit, None)
    with pytest.raises(ConfigError, match="shards must be 0"):
        LearnerSettings.resolve({"shards": 1}, environ={})


def test_a_contribution_manifest_round_trips_and_bad_ones_are_refused() -> None:
    manifest = ContributionManifest(schema=SCHEMA.digest(), shards=(H, H))
    data = manifest.to_bytes()
    assert ContributionManifest.parse(data, schema=SCHEMA.digest(), shard_count=2) == manifest
    good = json.loads(data)
    for bad, message in [
        (b"\xff not json", "not JSON"),
        (b"[]", "not a swarm-shards/1"),
        (json.dumps({**good, "schema": "x"}).encode(), "another model"),
        (json.dumps({**good, "shards": [H]}).encode(), "must list 2"),
        (json.dumps({**good, "shards": [H, "zz"]}).encode(), "not a sha256"),
    ]:
        with pytest.raises(InvalidWeights, match=message):
            ContributionManifest.parse(bad, schema=SCHEMA.digest(), shard_count=2)


def test_a_merged_manifest_round_trips_and_bad_ones_are_refused() -> None:
    entry = MergedShard(sha=H, merged_from=("0xA", "0xB"), refused=(("0xC", "gone"),))
    manifest = MergedManifest(step=4, shards={1: entry})
    assert MergedManifest.parse(manifest.to_bytes(), step=4, shard_count=3) == manifest
    with pytest.raises(InvalidWeights, match="not for step 5"):
        MergedManifest.parse(manifest.to_bytes(), step=5, shard_count=3)
    with pytest.raises(InvalidWeights, match="no shard '1'"):
        MergedManifest.parse(manifest.to_bytes(), step=4, shard_count=1)
    good = json.loads(manifest.to_bytes())
    for shards, message in [
        ({"1": 7}, "not an object"),
        ({"1": {**good["shards"]["1"], "merged_from": [1]}}, "bad merged_from"),
        ({"1": {**good["shards"]["1"], "refused": [["x"]]}}, "bad refused"),
        ({"1": {**good["shards"]["1"], "sha": "no"}}, "not a sha256"),
        ({"-1": good["shards"]["1"]}, "no shard"),
    ]:
        with pytest.raises(InvalidWeights, match=message):
            MergedManifest.parse(json.dumps({**good, "shards": shards}).encode(), step=4,
                                 shard_count=3)  # fmt: skip


@pytest.fixture
def chain() -> Iterator[Chain]:
    yield from running_chain()


def test_the_contract_records_the_sharding_and_each_participants_root(chain: Chain) -> None:
    clients = []
    for _ in range(2):
        account = Account.create()
        chain.admin.enroll(account.address, "learner", "http://127.0.0.1:1")
        chain.admin.send_value(account.address, 10**20)
        clients.append(
            SwarmContract(w3=connect(chain.url), address=chain.admin.address, account=account)
        )
    a, b = clients
    assert training_sharding(a) is None
    config = {"min_peers": 2, "grace_seconds": 0, "merge_method": "mean", "merge_params": "{}"}
    with pytest.raises(ContractRevert, match="at least 2 shards"):
        configure_sharded_training(a, sharding=Sharding(1, 1), **config)  # type: ignore[arg-type]
    configure_sharded_training(a, sharding=Sharding(12, 2), **config)  # type: ignore[arg-type]
    assert training_sharding(b) == Sharding(12, 2)
    assert a.training_config().configured and a.training_config().min_peers == 2
    a.check_in(step=0, weight_hash=H, weightage=1, base_hash="0" * 64)
    with pytest.raises(ContractRevert, match="step is not closed"):
        report_shards(a, 0, "cd" * 32)
    b.check_in(step=0, weight_hash="ef" * 32, weightage=1, base_hash="0" * 64)
    report_shards(a, 0, "cd" * 32)
    assert shard_roots(b, 0) == {a.account.address: "cd" * 32}
    with pytest.raises(ContractRevert, match="already reported"):
        report_shards(a, 0, "cd" * 32)
    with pytest.raises(ContractRevert, match="merged hash is zero"):
        report_shards(b, 0, "0" * 64)
    outsider = Account.create()
    chain.admin.enroll(outsider.address, "learner", "http://127.0.0.1:1")
    chain.admin.send_value(outsider.address, 10**20)
    stranger = SwarmContract(w3=connect(chain.url), address=chain.admin.address, account=outsider)
    with pytest.raises(ContractRevert, match="did not take part"):
        report_shards(stranger, 0, "cd" * 32)
