"""Our processes hash with the C Keccak (`swarm_network/keccak.py`) unless the user chose a
backend: checked in fresh interpreters, since eth-hash picks its backend once per process."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = (
    "import swarm_network\n"
    "from eth_hash.auto import keccak\n"
    "assert keccak(b'').hex().startswith('c5d246')\n"
    "print(type(keccak.hasher.__self__).__name__)\n"
)


def _backend(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "ETH_HASH_BACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_package_chooses_the_c_keccak() -> None:
    assert _backend() == "PySha3Backend"


def test_a_backend_the_user_chose_is_kept() -> None:
    assert _backend(ETH_HASH_BACKEND="pycryptodome") == "CryptodomeBackend"
