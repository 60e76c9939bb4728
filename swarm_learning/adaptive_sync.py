"""Adaptive sync (HPE's `useAdaptiveSync`): how many batches a learner trains between two sync
steps, derived from data the swarm agreed on, so every learner computes the same interval
(README, "Adaptive sync"; docs/ARCHITECTURE.md).

After merging step k, each participant evaluates the agreed model of step k on its own
validation data and reports the loss on chain before it checks in for step k+1; the contract
refuses step-k reports once step k+1 has closed, so from then on everyone reads the same mean
loss L(k). The interval trained after merging step j is

    I(0) = I(1) = syncFrequency
    I(j) = rule(I(j-1), L(j-2), L(j-1))      for j >= 2 (both final once step j has closed)

where `rule` lengthens the interval (x2, up to MAX_FACTOR x syncFrequency) while the merged
model's validation loss falls by at least IMPROVEMENT, shortens it (/2, down to
syncFrequency / MAX_FACTOR, at least 1) when the loss rises by at least that much, and keeps it
otherwise. A step without reports keeps the interval.
"""

from __future__ import annotations

import logging

from swarm_network.chain import SwarmContract
from swarm_network.chain.sync_calls import StepValidation

log = logging.getLogger(__name__)

#: A relative change of the mean validation loss smaller than this keeps the interval.
IMPROVEMENT = 0.02
#: The interval stays within [syncFrequency / MAX_FACTOR, syncFrequency * MAX_FACTOR].
MAX_FACTOR = 4


def next_interval(
    previous: int, base: int, loss_before: float | None, loss_now: float | None
) -> int:
    """The rule, alone: from the interval before and two consecutive mean losses."""
    if loss_before is None or loss_now is None or loss_before <= 0:
        return previous
    change = (loss_before - loss_now) / loss_before
    if change >= IMPROVEMENT:
        return min(previous * 2, base * MAX_FACTOR)
    if change <= -IMPROVEMENT:
        return max(previous // 2, max(1, base // MAX_FACTOR))
    return previous


class AdaptiveSchedule:
    """The intervals of one training, computed once per step from the chain and remembered (a
    learner that joins late computes those before it from the same reports)."""

    def __init__(self, contract: SwarmContract, base: int) -> None:
        self.contract = contract
        self.base = base
        self._intervals: list[int] = [base, base]  # I(0), I(1)
        self._losses: dict[int, float | None] = {}

    def loss(self, step: int) -> float | None:
        if step not in self._losses:
            figures: StepValidation = self.contract.validation(step)
            if not figures.final:
                raise ValueError(f"validation figures of step {step} are not final yet")
            self._losses[step] = figures.mean_loss
        return self._losses[step]

    def interval_after(self, step: int) -> int:
        """Batches to train after merging `step`: `step` has closed, which makes the reports of
        `step - 1` and before final."""
        while len(self._intervals) <= step:
            j = len(self._intervals)
            before, now = self.loss(j - 2), self.loss(j - 1)
            chosen = next_interval(self._intervals[-1], self.base, before, now)
            self._intervals.append(chosen)
        return self._intervals[step]
