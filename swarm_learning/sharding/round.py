"""One sync round of a sharded training (docs/ARCHITECTURE.md, "Sharded merge"):

check in the hash of a manifest of per-shard slice files -> wait until the step closes ->
fetch the participants' manifests (each verified against its on-chain hash) -> merge the
shards this node is assigned (only those slices are fetched), publish them, report their
root on chain -> take every other shard from its mergers by majority of their roots (or
merge it here when they disagree or do not come) -> assemble the model; its hash is this
learner's next base and its merge report, exactly as in an unsharded round.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from swarm_learning.check_in import check_in
from swarm_learning.eligibility import closed_step_contributions, refused_mask
from swarm_learning.finishing import adopt_final_model
from swarm_learning.round_context import RoundContext
from swarm_learning.round_result import RoundResult, Standing
from swarm_learning.sharding.assembly import Assembly, Deciding
from swarm_learning.sharding.manifest import ContributionManifest, MergedManifest
from swarm_learning.sharding.plan import ShardPlan, assign_mergers
from swarm_learning.sharding.shard_merge import (
    ShardResult,
    Source,
    merge_shard,
    publish_contribution,
)
from swarm_learning.waiting import wait_closed
from swarm_learning.weights import encode_weights
from swarm_network.chain.records import Contribution
from swarm_network.chain.sharding import Sharding, report_shards
from swarm_network.errors import ContractRevert, SwarmError, TrainingEnded

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


def run_sharded_round(
    ctx: RoundContext, arrays: Arrays, previous: RoundResult | None, sharding: Sharding
) -> tuple[Arrays, RoundResult]:
    """`round.run_round` for a training whose model is merged in shards."""
    plan = ShardPlan(ctx.schema, sharding.shards)
    started = time.monotonic()
    try:
        checked = check_in(
            ctx,
            arrays,
            Standing.after(previous),
            publish=lambda a: publish_contribution(ctx.store, a, plan),
        )
    except TrainingEnded:
        return adopt_final_model(ctx, arrays)
    step = checked.standing.step
    checked_in = time.monotonic()

    wait_closed(ctx, step, since_block=checked.block, own_hash=checked.weight_hash)
    on_chain, eligible = closed_step_contributions(ctx.contract, step)
    for c in eligible:
        ctx.peers.url(c.address)
    closed = time.monotonic()

    sources, missing = step_sources(ctx, plan, eligible, checked.weight_hash)
    mergers = assign_mergers(step, [c.address for c in eligible], plan.count, sharding.replication)

    def merge_here(shard: int) -> ShardResult:
        return merge_shard(
            plan=plan,
            shard=shard,
            sources=sources,
            own=(checked.weight_hash, checked.arrays),
            choice=ctx.training.merge,
            fetcher=ctx.peers.fetcher,
            store=ctx.store,
        )

    me = _address(ctx)
    own = {k: merge_here(k) for k, names in enumerate(mergers) if me in names}
    _publish(ctx, step, own)
    assembly = Deciding(
        contract=ctx.contract,
        fetcher=ctx.peers.fetcher,
        plan=plan,
        step=step,
        mergers=mergers,
        urls=ctx.peers.url,
        merge_here=merge_here,
        timeout_s=ctx.settings.shard_timeout_s,
        poll=ctx.polling(None),
    ).run(own)
    merged = plan.assemble([assembly.slices[k] for k in range(plan.count)])
    merged_hash = ctx.store.put_bytes(encode_weights(merged))
    done = time.monotonic()

    merged_from, refused = _outcome(eligible, missing, assembly)
    result = RoundResult(
        step=step,
        participants=tuple(c.address for c in eligible),
        merged_from=merged_from,
        refused=refused,
        refused_mask=refused_mask(on_chain, {address for address, _ in refused}),
        method=ctx.training.merge.name,
        merged_hash=merged_hash,
        check_in_s=checked_in - started,
        wait_s=closed - checked_in,
        transfer_s=0.0,  # fetching and merging overlap shard by shard: counted as merge
        merge_s=done - closed,
        caught_up=checked.caught_up,
        publish_s=checked.publish_s,
        fetched_bytes=sum(r.fetched_bytes for r in own.values())
        + assembly.fetched_bytes
        + sum(
            ctx.store.path(s.contribution.weight_hash).stat().st_size
            for s in sources
            if s.contribution.weight_hash != checked.weight_hash
        ),
        shard_faults=tuple(assembly.faults),
    )
    log.info(
        "step %d merged %d of %d (%s, %d shards, %d here, %d by fallback) -> %s in %.0f ms",
        step,
        len(merged_from),
        len(eligible),
        result.method,
        plan.count,
        len(own),
        len(assembly.merged_here),
        merged_hash[:12],
        result.total_s * 1000,
    )
    return merged, result


def _address(ctx: RoundContext) -> str:
    if ctx.contract.account is None:
        raise SwarmError("a learner's chain client needs its key")
    return str(ctx.contract.account.address)


def step_sources(
    ctx: RoundContext, plan: ShardPlan, eligible: list[Contribution], own_hash: str
) -> tuple[list[Source], list[tuple[str, str]]]:
    """The eligible contributions whose manifests came and parse, and why the others did not."""
    files, missing = ctx.peers.fetch_contributions(eligible, own_hash=own_hash)
    files = {**files, own_hash: ctx.store.path(own_hash)}
    sources = []
    for c in eligible:
        path = files.get(c.weight_hash)
        if path is None:
            continue
        try:
            manifest = ContributionManifest.parse(
                Path(path).read_bytes(), schema=plan.schema.digest(), shard_count=plan.count
            )
        except (SwarmError, OSError) as exc:
            log.warning("shard manifest of %s refused: %s", c.address, exc)
            missing.append((c.address, str(exc)))
            continue
        sources.append(Source(contribution=c, url=ctx.peers.url(c.address), manifest=manifest))
    return sources, missing


def _publish(ctx: RoundContext, step: int, own: dict[int, ShardResult]) -> None:
    """Store the manifest of the shards merged here and report its root on chain."""
    if not own:
        return
    manifest = MergedManifest(step=step, shards={k: r.entry for k, r in own.items()})
    root = ctx.store.put_bytes(manifest.to_bytes())
    try:
        report_shards(ctx.contract, step, root)
    except ContractRevert as exc:  # reported before a restart: the others have that root
        log.info("shards of step %d not reported: %s", step, exc.reason)


def _outcome(
    eligible: list[Contribution], missing: list[tuple[str, str]], assembly: Assembly
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Who went into every shard, and (address, reason) of each contribution some shard
    left out (the first reason given)."""
    reasons = dict(missing)
    for entry in assembly.entries.values():
        for address, reason in entry.refused:
            reasons.setdefault(address, reason)
    in_all = set.intersection(*(set(e.merged_from) for e in assembly.entries.values()))
    merged_from = tuple(c.address for c in eligible if c.address in in_all)
    for c in eligible:
        if c.address not in in_all:
            reasons.setdefault(c.address, "left out of some shard")
    refused = tuple((a, reasons[a]) for a in (c.address for c in eligible) if a in reasons)
    return merged_from, refused
