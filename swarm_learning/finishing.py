"""The end of a learner's training (docs/ARCHITECTURE.md, "The end of the training"): report
its last merge, leave the quorum, wait until the chain records that the training has ended,
and adopt the model the chain names as final, so that every learner still alive ends with
the same bytes whatever the order in which they got there; then keep serving it until an SN
node holds a copy. A learner that finds the training already ended when it checks in (it
restarted, or ran late) adopts that same final model instead of running a round."""

from __future__ import annotations

import logging
import time

import numpy as np
import requests

from swarm_learning.round_context import RoundContext
from swarm_learning.round_result import RoundResult
from swarm_learning.weights import encode_weights
from swarm_network.chain.records import ZERO_HASH, FinalModel
from swarm_network.errors import ContractRevert

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]

#: Seconds one SN node may take to answer whether it holds the final model.
ARCHIVE_PROBE_TIMEOUT_S = 2
#: Least time between two of our attempts to close the open step while the end is awaited.
CLOSE_RETRY_S = 1.0
#: Least time between two progress messages while the end is awaited.
WAIT_LOG_EVERY_S = 5.0


def finish_training(
    ctx: RoundContext, arrays: Arrays, last: RoundResult | None
) -> tuple[Arrays, str]:
    """The final model and its hash, after this learner's `last` round."""
    model_hash = ZERO_HASH if last is None else last.merged_hash
    if last is not None and last.participants:
        try:
            ctx.contract.report_merge(last.step, last.merged_hash, last.refused_mask)
        except ContractRevert as exc:
            log.info("merge of step %d not reported: %s", last.step, exc.reason)
    try:
        ctx.contract.finish()
    except ContractRevert as exc:  # it finished before a restart
        log.info("not finished again: %s", exc.reason)
    final = wait_training_ended(ctx, timeout_s=ctx.settings.final_timeout_s)
    if final is None or final.model_hash is None:
        return arrays, model_hash
    _wait_archived(ctx, final.model_hash)
    return _adopt(ctx, arrays, model_hash, final), final.model_hash


def adopt_final_model(ctx: RoundContext, arrays: Arrays) -> tuple[Arrays, RoundResult]:
    """The round of a learner that checked in after the training ended: no step runs; it
    takes the swarm's final model (or keeps its own if no step's merge was decided)."""
    started = time.monotonic()
    final = ctx.contract.final_model()
    own_hash = ctx.store.put_bytes(encode_weights(arrays))  # its own work, not merged
    if final.model_hash is None or final.step is None:
        step, model_hash = max(final.open_step - 1, 0), own_hash
    else:
        step, model_hash = final.step, final.model_hash
        arrays = _adopt(ctx, arrays, own_hash, final)
    log.info("the training had ended at step %d: final model %s", final.open_step, model_hash[:12])
    result = RoundResult(
        step=step,
        participants=(),
        merged_from=(),
        refused=(),
        refused_mask=0,
        method=ctx.training.merge.name,
        merged_hash=model_hash,
        check_in_s=time.monotonic() - started,
        wait_s=0.0,
        transfer_s=0.0,
        merge_s=0.0,
        caught_up=True,
    )
    return arrays, result


def wait_training_ended(ctx: RoundContext, *, timeout_s: float) -> FinalModel | None:
    """The chain's record of the end, once the training has ended; None after `timeout_s`.

    Meanwhile it closes the open step whenever the contract allows: a learner that checked
    in and then died cannot close it itself, and the end needs an empty open step."""
    last_close_try = 0.0
    last_log = time.monotonic()
    for _ in ctx.polling(timeout_s).sleeps():
        final = ctx.contract.final_model()
        if final.ended:
            return final
        now = time.monotonic()
        open_step = ctx.contract.current_step()
        status = ctx.contract.step_status(open_step)
        if status.checked_in > 0 and now - last_close_try >= CLOSE_RETRY_S:
            last_close_try = now
            try:
                ctx.contract.close_step(open_step)
            except ContractRevert as exc:
                log.debug("close of step %d refused: %s", open_step, exc.reason)
        if now - last_log >= WAIT_LOG_EVERY_S:
            log.info("done; waiting for %d learner(s) still training", status.live)
            last_log = now
    log.warning("other learners still training after %.0fs; keeping my model", timeout_s)
    return None


def _adopt(ctx: RoundContext, arrays: Arrays, own_hash: str, final: FinalModel) -> Arrays:
    if final.model_hash is None or final.step is None or final.model_hash == own_hash:
        return arrays
    log.info("adopting the swarm's final model of step %d", final.step)
    return ctx.peers.fetch_agreed(final.step, final.model_hash, ctx.schema)


def _wait_archived(ctx: RoundContext, agreed: str) -> None:
    """Keep serving the final model until every reachable SN node holds a copy of it
    (bounded), so that it outlives the learners: a node that comes later can still fetch
    it. An SN node that cannot be reached is not waited for."""
    pending = {n.file_url for n in ctx.contract.nodes() if n.role == "network"}
    for _ in ctx.polling(ctx.settings.archive_wait_s).sleeps():
        for url in sorted(pending):
            try:
                response = requests.head(f"{url}/files/{agreed}", timeout=ARCHIVE_PROBE_TIMEOUT_S)
                if response.status_code == 200:
                    pending.discard(url)
            except requests.ConnectionError:
                pending.discard(url)
            except requests.RequestException:
                pass
        if not pending:
            return
    log.warning("final model %s not yet copied by %s", agreed[:12], sorted(pending))
