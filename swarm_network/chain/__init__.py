"""Chain access in one place: import the client and its records from here, not from the
modules inside, so that the package can arrange its insides freely.

Inside: `transport` (JSON-RPC connection, error mapping, read retries), `transactions` (nonce,
gas price, signing, delivery, receipts), `reverts` (the contract's refusals decoded to typed
errors), `contract` (`SwarmContract`: deployment, typed writes and reads), `records`.
"""

from swarm_network.chain.contract import SwarmContract
from swarm_network.chain.reverts import CONTRACT_NAME, revert_error
from swarm_network.chain.transport import connect

__all__ = ["CONTRACT_NAME", "SwarmContract", "connect", "revert_error"]
