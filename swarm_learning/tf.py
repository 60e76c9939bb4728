"""HPE's import path for the Keras callback (`from swarmlearning.tf import SwarmCallback`)."""

from swarm_learning.keras import SwarmCallback

__all__ = ["SwarmCallback"]
