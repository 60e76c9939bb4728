"""Checking in for a step: the weight file's hash, the weightage, the base model and the
report of the last merge in one transaction. A refusal because this learner is behind
(`StepNotOpen`, `StaleBase`) makes it catch up and try again, a bounded number of times."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from swarm_learning import catch_up
from swarm_learning.round_context import RoundContext
from swarm_learning.round_result import Standing
from swarm_learning.weights import encode_weights
from swarm_network.errors import AlreadyCheckedIn, StaleBase, StepNotOpen, SwarmError

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]

#: A late node races steps that the others close without it: it may need a few tries.
MAX_CHECK_IN_ATTEMPTS = 100


@dataclass(frozen=True)
class CheckedIn:
    """The contribution as checked in: its arrays and file hash, and for which step, from
    which base (both may differ from what was asked for, after catching up)."""

    arrays: Arrays
    weight_hash: str
    standing: Standing
    caught_up: bool
    block: int  # the block the check-in is in
    publish_s: float  # time spent storing the contribution (every attempt)


def check_in(
    ctx: RoundContext,
    arrays: Arrays,
    standing: Standing,
    publish: Callable[[Arrays], str] | None = None,
) -> CheckedIn:
    """`publish` stores the contribution for the peers and gives the hash to check in (by
    default one weight file; a sharded training stores a file per shard and their manifest)."""
    caught_up = False
    publish_s = 0.0
    for _ in range(MAX_CHECK_IN_ATTEMPTS):
        started = time.monotonic()
        if publish is None:
            weight_hash = ctx.store.put_bytes(encode_weights(arrays))
        else:
            weight_hash = publish(arrays)
        publish_s += time.monotonic() - started
        try:
            block = ctx.contract.check_in(
                step=standing.step,
                weight_hash=weight_hash,
                weightage=ctx.training.weightage,
                base_hash=standing.base_hash,
                rejected_mask=standing.refused_mask,
            )
            return CheckedIn(arrays, weight_hash, standing, caught_up, block, publish_s)
        except StepNotOpen:
            arrays, standing = catch_up.to_open_step(ctx, arrays, standing)
        except StaleBase as exc:
            log.info("check-in for step %d refused (%s); catching up", standing.step, exc.reason)
            arrays, standing = catch_up.adopt_agreed(ctx, standing.step - 1, standing)
        except AlreadyCheckedIn:
            # An earlier run of this learner checked in for this step and died: its
            # contribution stands; this run takes the step's agreed model and goes on after it.
            log.info("step %d has this learner's earlier contribution; adopting its merge",
                     standing.step)  # fmt: skip
            arrays, standing = catch_up.adopt_agreed(ctx, standing.step, standing)
        caught_up = True
    raise SwarmError(f"could not check in after {MAX_CHECK_IN_ATTEMPTS} attempts")
