"""One sync round, leaderless (docs/ARCHITECTURE.md):

check in (weight file hash, weightage, base model, and the report of the last merge) ->
wait until the step closes -> fetch the other participants' files, each verified against
its on-chain hash -> merge in address order -> the merged hash is this learner's next base,
and the round's result tells the next check-in what to report about this merge.

A learner that finds itself behind catches up during its check-in (`check_in`, `catch_up`),
so no operator action is needed. Nothing is left in any object for the next round: what the
next round needs is in the `RoundResult` it is given.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from swarm_learning.check_in import check_in
from swarm_learning.eligibility import closed_step_contributions, contributors, refused_mask
from swarm_learning.finishing import adopt_final_model
from swarm_learning.merge import OwnModel, merge_step
from swarm_learning.round_context import RoundContext
from swarm_learning.round_result import RoundResult, Standing
from swarm_learning.sharding.round import run_sharded_round
from swarm_learning.waiting import wait_closed
from swarm_learning.weights import encode_weights
from swarm_network.errors import TrainingEnded

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


def run_round(
    ctx: RoundContext, arrays: Arrays, previous: RoundResult | None
) -> tuple[Arrays, RoundResult]:
    """One round from this learner's `arrays`, after its `previous` round (None: the first):
    the merged model and what the round did."""
    if ctx.training.sharding is not None:
        return run_sharded_round(ctx, arrays, previous, ctx.training.sharding)
    started = time.monotonic()
    try:
        checked = check_in(ctx, arrays, Standing.after(previous))
    except TrainingEnded:
        return adopt_final_model(ctx, arrays)
    step = checked.standing.step
    checked_in = time.monotonic()

    wait_closed(ctx, step, since_block=checked.block, own_hash=checked.weight_hash)
    on_chain, eligible = closed_step_contributions(ctx.contract, step)
    for c in eligible:
        ctx.peers.url(c.address)  # chain reads, once per peer: not transfer time
    closed = time.monotonic()

    files, missing = ctx.peers.fetch_contributions(eligible, own_hash=checked.weight_hash)
    fetched = time.monotonic()

    merged = merge_step(
        contributors(eligible),
        files,
        own=OwnModel(checked.weight_hash, checked.arrays),
        schema=ctx.schema,
        choice=ctx.training.merge,
    )
    merged_hash = ctx.store.put_bytes(encode_weights(merged.arrays))
    done = time.monotonic()

    refused = (*missing, *merged.refused)
    result = RoundResult(
        step=step,
        participants=tuple(c.address for c in eligible),
        merged_from=merged.merged_from,
        refused=refused,
        refused_mask=refused_mask(on_chain, {address for address, _ in refused}),
        method=ctx.training.merge.name,
        merged_hash=merged_hash,
        check_in_s=checked_in - started,
        wait_s=closed - checked_in,
        transfer_s=fetched - closed,
        merge_s=done - fetched,
        caught_up=checked.caught_up,
        publish_s=checked.publish_s,
        fetched_bytes=sum(path.stat().st_size for path in files.values()),
    )
    _log_round(result)
    return merged.arrays, result


def _log_round(result: RoundResult) -> None:
    log.info(
        "step %d merged %d of %d (%s) -> %s in %.0f ms (check-in %.0f, of it publishing "
        "%.0f; wait %.0f, transfer %.0f, merge %.0f)",
        result.step,
        len(result.merged_from),
        len(result.participants),
        result.method,
        result.merged_hash[:12],
        result.total_s * 1000,
        result.check_in_s * 1000,
        result.publish_s * 1000,
        result.wait_s * 1000,
        result.transfer_s * 1000,
        result.merge_s * 1000,
    )
