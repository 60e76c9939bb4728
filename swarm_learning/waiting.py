"""Waiting on the chain, each wait bounded by its own deadline (the quorum wait only by
`quorum_timeout_s`: by default training pauses until enough learners are back): for a step
to close (closing it ourselves once allowed), for a merge to be agreed (settling it ourselves
once its grace period is over). The end of the training is awaited in `finishing.py`."""

from __future__ import annotations

import logging
import time

from swarm_learning.round_context import RoundContext
from swarm_network.errors import ContractRevert, SwarmError

log = logging.getLogger(__name__)

#: Least time between two of our close (or settle) transactions for one step.
CLOSE_RETRY_S = 1.0
#: Least time between two progress messages of one wait.
WAIT_LOG_EVERY_S = 5.0


def wait_closed(ctx: RoundContext, step: int) -> None:
    """Until `step` is closed: by the last check-in, by another node, or by us once its quorum
    is in, the previous merge is agreed and every live learner is in or the grace is over."""
    started = time.monotonic()
    quorum_seen: float | None = None
    last_close_try = 0.0
    last_log = started
    for _ in ctx.polling(None).sleeps():
        status = ctx.contract.step_status(step)
        if status.closed:
            return
        now = time.monotonic()
        if status.checked_in < status.quorum:
            quorum_seen = None
            if now - last_log >= WAIT_LOG_EVERY_S:
                log.info(
                    "step %d waiting for quorum: %d of %d checked in (training paused)",
                    step,
                    status.checked_in,
                    status.quorum,
                )
                last_log = now
            timeout = ctx.settings.quorum_timeout_s
            if timeout is not None and now - started > timeout:
                raise SwarmError(f"no quorum for step {step} after {timeout:.0f}s")
            continue
        quorum_seen = quorum_seen or now
        everyone_in = status.checked_in >= status.live
        grace_over = now - quorum_seen >= ctx.training.grace_seconds
        may_close = status.previous_agreed and (everyone_in or grace_over)
        if may_close and now - last_close_try >= CLOSE_RETRY_S:
            last_close_try = now
            try:
                ctx.contract.close_step(step)
            except ContractRevert as exc:
                log.debug("close of step %d refused: %s", step, exc.reason)
                continue
            log.info("closed step %d (%d of %d live in)", step, status.checked_in, status.live)
            return


def wait_agreed(ctx: RoundContext, step: int, *, timeout_s: float) -> str | None:
    """The agreed merge of `step`, or None after `timeout_s`. After the grace period,
    participants that never reported (they died) stop counting: any node may then settle
    the merge by the reports."""
    started = time.monotonic()
    last_settle_try = started
    for _ in ctx.polling(timeout_s).sleeps():
        record = ctx.contract.step(step)
        if record.agreed_hash is not None:
            return record.agreed_hash
        now = time.monotonic()
        grace_over = now - started >= ctx.training.grace_seconds
        if grace_over and now - last_settle_try >= CLOSE_RETRY_S:
            last_settle_try = now
            try:
                ctx.contract.settle_merge(step)
            except ContractRevert as exc:
                log.debug("merge of step %d not settled: %s", step, exc.reason)
    log.warning("no majority on the merge of step %d after %.0fs", step, timeout_s)
    return None
