"""The end of a learner's training: report its last merge, leave the quorum, and adopt the
swarm's final model (the agreed merge of the training's last step) once every live learner
is done, so that all learners end with the same bytes even when one of them joined late and
ran on for a step or two alone; then keep serving it until an SN node holds a copy."""

from __future__ import annotations

import logging

import numpy as np
import requests

from swarm_learning.round_context import RoundContext
from swarm_learning.round_result import RoundResult
from swarm_learning.waiting import wait_agreed, wait_training_done
from swarm_network.chain.records import ZERO_HASH
from swarm_network.errors import ContractRevert

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]

#: Seconds one SN node may take to answer whether it holds the final model.
ARCHIVE_PROBE_TIMEOUT_S = 2


def finish_training(
    ctx: RoundContext, arrays: Arrays, last: RoundResult | None
) -> tuple[Arrays, str]:
    """The final model and its hash, after this learner's `last` round."""
    model_hash = ZERO_HASH if last is None else last.merged_hash
    if last is not None:
        try:
            ctx.contract.report_merge(last.step, last.merged_hash, last.refused_mask)
        except ContractRevert as exc:
            log.info("merge of step %d not reported: %s", last.step, exc.reason)
    ctx.contract.finish()
    timeout_s = ctx.settings.final_timeout_s
    final_step = wait_training_done(ctx, timeout_s=timeout_s)
    if final_step is None or final_step < 0:
        return arrays, model_hash
    agreed = wait_agreed(ctx, final_step, timeout_s=timeout_s)
    if agreed is None:
        return arrays, model_hash
    _wait_archived(ctx, agreed)
    if agreed == model_hash:
        return arrays, model_hash
    log.info("adopting the swarm's final model of step %d", final_step)
    return ctx.peers.fetch_agreed(final_step, agreed, ctx.schema), agreed


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
