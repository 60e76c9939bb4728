"""Which Keccak the Ethereum libraries use in our processes: the C one (safe-pysha3).

eth-hash picks its backend on the first hash, by the `ETH_HASH_BACKEND` environment variable
or else the first it can import, which is pycryptodome: about 6 us per short hash here, where
safe-pysha3 takes 1.5 us. py-evm hashes trie nodes, storage keys and addresses thousands of
times per transaction, so this was about a seventh of the sentinel's time per check-in
(docs/ARCHITECTURE.md, "Speed"). A backend that a user chose in the environment is kept.
"""

from __future__ import annotations

import importlib.util
import os

BACKEND_VARIABLE = "ETH_HASH_BACKEND"
C_BACKEND = "pysha3"  # eth-hash's name for safe-pysha3 (module `sha3`)


def prefer_c_keccak() -> None:
    """Must run before the first hash of the process (importing `swarm_network` does)."""
    if BACKEND_VARIABLE not in os.environ and importlib.util.find_spec("sha3") is not None:
        os.environ[BACKEND_VARIABLE] = C_BACKEND
