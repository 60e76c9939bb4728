"""Learner (SL) node: the training-loop API and the sync protocol."""

from swarm_learning.callback import SwarmCallback

__all__ = ["SwarmCallback"]
