"""Waiting on the chain, each wait bounded by its own deadline (the quorum wait only by
`quorum_timeout_s`: by default training pauses until enough learners are back): for a step
to close (closing it ourselves once allowed; woken by the chain's events where the SN node
pushes them), for a merge to be agreed (settling it ourselves once its grace period is
over). The end of the training is awaited in `finishing.py`."""

from __future__ import annotations

import logging
import time

from swarm_learning.round_context import RoundContext
from swarm_network.chain.events import CheckedIn, StepClosed
from swarm_network.chain.records import StepStatus
from swarm_network.errors import ChainUnavailable, ContractRevert, SwarmError

log = logging.getLogger(__name__)

#: Least time between two of our close (or settle) transactions for one step.
CLOSE_RETRY_S = 1.0
#: Least time between two progress messages of one wait.
WAIT_LOG_EVERY_S = 5.0


def wait_closed(
    ctx: RoundContext, step: int, *, since_block: int, own_hash: str | None = None
) -> None:
    """Until `step` is closed: by the last check-in, by another node, or by us once its quorum
    is in and the grace is over, or sooner once the previous merge is agreed and every live
    learner is in.

    With the SN node's event feed, the learner sleeps until the chain has news (a block after
    `since_block`), starts fetching each other contribution the moment its check-in is seen
    (`own_hash` is not fetched), and returns on the step's close event; without it, it polls.
    """
    started = time.monotonic()
    quorum_seen: float | None = None
    last_close_try = 0.0
    last_log = started
    wake = _Wake(ctx, step, since_block, own_hash)
    status = wake.first_status()
    while not status.closed:
        now = time.monotonic()
        next_deadline = now + WAIT_LOG_EVERY_S
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
        else:
            quorum_seen = quorum_seen or now
            everyone_in = status.checked_in >= status.live
            grace_end = quorum_seen + ctx.training.grace_seconds
            grace_over = now >= grace_end
            # Without an agreed previous merge (its reports split, a reporter died), a close
            # after the grace settles it by its reports first; nobody else would, since every
            # live learner is waiting here for this close.
            may_close = grace_over or (status.previous_agreed and everyone_in)
            if may_close and now - last_close_try >= CLOSE_RETRY_S:
                last_close_try = now
                try:
                    ctx.contract.close_step(step)
                    log.info(
                        "closed step %d (%d of %d live in)", step, status.checked_in, status.live
                    )
                    return
                except ContractRevert as exc:
                    log.debug("close of step %d refused: %s", step, exc.reason)
            if may_close:
                next_deadline = min(next_deadline, last_close_try + CLOSE_RETRY_S)
            elif grace_end > now:
                next_deadline = min(next_deadline, grace_end)
        if wake.until(next_deadline):
            return
        status = ctx.contract.step_status(step)


class _Wake:
    """How `wait_closed` waits for the next change: on the event feed if there is one (and
    it answers), else by polling the contract with backoff."""

    def __init__(self, ctx: RoundContext, step: int, since_block: int, own_hash: str | None):
        self.ctx = ctx
        self.step = step
        self.head = since_block
        self.own_hash = own_hash
        self._poll_delays = ctx.polling(None).delays()

    def first_status(self) -> StepStatus:
        """The step's status; with the feed, also start fetching the contributions already
        in (their events are behind us), read in the same round trip."""
        if self.ctx.feed is None:
            return self.ctx.contract.step_status(self.step)
        status, contributions = self.ctx.contract.status_and_contributions(self.step)
        if not status.closed:
            for c in contributions:
                self._prefetch(c.address, c.weight_hash)
        return status

    def until(self, deadline: float) -> bool:
        """Wait for news or `deadline`; True when the news is the step's close."""
        feed = self.ctx.feed
        if feed is not None:
            try:
                update = feed.wait(after=self.head, timeout_s=max(0.0, deadline - time.monotonic()))
            except ChainUnavailable as exc:
                log.debug("event feed unavailable (%s): polling once", exc)
            else:
                self.head = update.head
                closed = False
                for event in update.events:
                    if isinstance(event, CheckedIn) and event.step == self.step:
                        self._prefetch(event.node, event.weight_hash)
                    elif isinstance(event, StepClosed) and event.step == self.step:
                        closed = True
                return closed
        time.sleep(min(next(self._poll_delays, 0.0), max(0.0, deadline - time.monotonic())))
        return False

    def _prefetch(self, address: str, weight_hash: str) -> None:
        if weight_hash != self.own_hash:
            self.ctx.peers.prefetch(address, weight_hash)


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
