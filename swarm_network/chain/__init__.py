"""Chain access in one place: import the client and its records from here, not from the
modules inside, so that the package can arrange its insides freely."""

from swarm_network.chain.client import SwarmContract, connect, revert_error

__all__ = ["SwarmContract", "connect", "revert_error"]
