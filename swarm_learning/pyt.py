"""HPE's import path for the PyTorch callback (`from swarmlearning.pyt import SwarmCallback`):
`from swarm_learning.pyt import SwarmCallback` works as well as `from swarm_learning import
SwarmCallback`."""

from swarm_learning.callback import SwarmCallback

__all__ = ["SwarmCallback"]
