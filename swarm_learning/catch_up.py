"""Catching up: a learner whose check-in was refused because it is behind (late join, a step
that closed without it, a merge that lost the vote) gets back in step by itself, either by
offering its work as late work or by adopting the swarm's agreed model."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from swarm_learning.round_context import RoundContext
from swarm_learning.round_result import Standing
from swarm_learning.waiting import wait_agreed
from swarm_network.backoff import Backoff
from swarm_network.chain.records import ZERO_HASH
from swarm_network.errors import SwarmError

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]

#: How long a learner keeps trying to adopt an agreed model before it gives up.
CATCH_UP_TIMEOUT_S = 600.0
#: Pause between two attempts, when nobody could deliver any candidate model.
RETRY_FIRST_S, RETRY_MAX_S = 0.2, 2.0


def to_open_step(ctx: RoundContext, arrays: Arrays, standing: Standing) -> tuple[Arrays, Standing]:
    """The step `standing` meant to check in for is closed (late join, or too slow).

    A slow learner whose work is at most `max_staleness` steps late offers it to the open
    step as it is (the contract records the staleness; every node merges it with weight
    weightage / (1 + staleness)). Otherwise, or for a node with no merged base yet, it takes
    the agreed model of the step before the open one. Checked lazily, on a refused check-in,
    so that the steady state costs no extra chain read."""
    open_step = ctx.contract.current_step()
    if open_step <= standing.step:
        return arrays, standing
    late_by = open_step - standing.step
    if (
        standing.base_hash != ZERO_HASH
        and late_by <= ctx.training.max_staleness
        and not _only_learner_left(ctx)
    ):
        log.info("late by %d step(s): offering my work to step %d as stale", late_by, open_step)
        return arrays, replace(standing, step=open_step)
    log.info("swarm is at step %d, I am at %d: catching up", open_step, standing.step)
    return adopt_agreed(ctx, open_step - 1, standing)


def _only_learner_left(ctx: RoundContext) -> bool:
    """Every other learner has finished: late work offered now would be merged by me
    alone and become the swarm's final model, so I take the agreed one instead."""
    return ctx.contract.unfinished_learners() <= 1


def adopt_agreed(
    ctx: RoundContext, agreed_step: int, standing: Standing
) -> tuple[Arrays, Standing]:
    """Adopt the agreed model of `agreed_step`; training continues from it.

    If that merge never comes (every learner of the step died before reporting), or no one
    can deliver it any more, take the newest agreed model at most `max_staleness` steps older
    that someone (a peer or an SN node's archive) can deliver: the contract accepts work
    built on it as late work, and the swarm goes on. The refused mask of `standing` stays: it
    is still this learner's report of its last merge."""
    patience = max(ctx.training.grace_seconds, 1) * 3
    retries = Backoff(first_s=RETRY_FIRST_S, max_s=RETRY_MAX_S, deadline_s=CATCH_UP_TIMEOUT_S)
    for _ in retries.sleeps():
        candidates = []
        agreed = wait_agreed(ctx, agreed_step, timeout_s=patience)
        if agreed is not None:
            candidates.append((agreed_step, agreed))
        candidates += _agreed_before(ctx, agreed_step)
        for source, model_hash in candidates:
            try:
                arrays = ctx.peers.fetch_agreed(source, model_hash, ctx.schema)
            except SwarmError as exc:
                log.warning("agreed model of step %d unavailable: %s", source, exc)
                continue
            if source != agreed_step:
                log.info("starting from step %d's agreed model (late work)", source)
            step = max(ctx.contract.current_step(), agreed_step + 1)
            return arrays, replace(standing, step=step, base_hash=model_hash)
    raise SwarmError(
        f"could not adopt the agreed model of step {agreed_step}, nor one at most "
        f"{ctx.training.max_staleness} step(s) older, in {CATCH_UP_TIMEOUT_S:.0f}s"
    )


def _agreed_before(ctx: RoundContext, step: int) -> list[tuple[int, str]]:
    """(step, agreed hash) of the agreed steps before `step`, newest first, as far back as
    late work may reach."""
    found = []
    for older in range(step - 1, max(-1, step - 1 - ctx.training.max_staleness), -1):
        agreed = ctx.contract.step(older).agreed_hash
        if agreed is not None:
            found.append((older, agreed))
    return found
