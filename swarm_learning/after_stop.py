"""What a learner does between reaching its own stopping point and the end of the training,
by HPE's `checkinModelOnTrainEnd` (README, "HPE's parameters"):

- `inactive`: it leaves the quorum at once (`finish`); the others never wait for it, and it
  ends with the swarm's final model.
- `snapshot` (the default): it records on chain that it has stopped, and takes part in every
  step that a learner still training opens, contributing the weights it had when it stopped;
  it does not take the merged weights.
- `active`: the same, but it contributes its current model and takes each merge, as if it were
  still training (it trains nothing).

A stopped learner never opens a step itself: it joins a step once a learner that has not
stopped checked in for it, and finishes once no such learner is left (`trainingLearners`
on chain), so learners that stop at the same step do not run one more step among themselves.
"""

from __future__ import annotations

import logging

from swarm_learning.round_context import RoundContext
from swarm_network.errors import ContractRevert

log = logging.getLogger(__name__)


def mark_stopped(ctx: RoundContext) -> None:
    try:
        ctx.contract.mark_stopped()
    except ContractRevert as exc:  # an earlier run of this learner stopped already
        log.info("already recorded as stopped: %s", exc.reason)


def await_training_step(ctx: RoundContext, *, timeout_s: float) -> int | None:
    """The open step once a learner still training has checked in for it; None once no
    learner is training any more, the training has ended, or after `timeout_s` without news
    (a learner that died in the last step stays counted as training)."""
    for _ in ctx.polling(timeout_s).sleeps():
        if ctx.contract.training_ended():
            return None
        step = ctx.contract.current_step()
        for contribution in ctx.contract.contributions(step):
            if not ctx.contract.is_stopped(contribution.address):
                return step
        if ctx.contract.training_learners(step) == 0:
            return None
    log.warning("no learner still training checked in for %.0fs; finishing", timeout_s)
    return None
