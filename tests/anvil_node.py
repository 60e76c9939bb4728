"""Start and stop anvil (foundry's dev node) for tests and benchmarks. Not a test module.

Why anvil: it is an independent, widely used Ethereum node that installs offline from npm
(`npm ci --prefix tests/anvil`, pinned to 1.7.1 there), so the sentinel's embedded chain can be
checked against it answer for answer, and timed against it.

The binary is run directly (not through npm's `.bin` launcher, which is Node code in some
packagings): one process to start, and killing it really stops the node.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from swarm_learning.demo.local_swarm import free_port

ANVIL_DIR = Path(__file__).resolve().parent / "anvil"
# Where `npm ci --prefix tests/anvil` puts the binary (package @foundry-rs/anvil-linux-amd64).
ANVIL_PACKAGE_BINARY = (
    ANVIL_DIR / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
)
# Set to use another anvil binary (e.g. one from foundryup) instead of the pinned npm one.
ANVIL_ENV = "SWARM_ANVIL_BIN"
MISSING_REASON = "anvil is not installed: run `npm ci --prefix tests/anvil` (Linux x64 only)"

# anvil's first dev account, from its public default mnemonic ("test test ... junk"); it holds
# 10 000 ETH on every fresh anvil. Public knowledge: never use it on a real network.
DEV_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEFAULT_CHAIN_ID = 31337
# The embedded chain runs py-evm's Prague rules; anvil's default ("latest") is newer. Pinning
# the same fork keeps block and transaction shapes comparable.
DEFAULT_HARDFORK = "prague"
START_TIMEOUT_S = 30.0
START_ATTEMPTS = 3  # a free port can be taken between our probe and anvil's bind


@dataclass(frozen=True)
class AnvilNode:
    """A running anvil: where to reach it and a funded key to deploy and send with."""

    url: str
    chain_id: int
    funded_key: str
    funded_address: str
    pid: int


def anvil_binary() -> Path | None:
    """The anvil executable to run, or None when it is not installed (tests then skip).

    Only the pinned one (or an explicit override), never whatever `anvil` is on PATH: the
    conformance test records the error codes of one anvil version.
    """
    override = os.environ.get(ANVIL_ENV)
    candidate = Path(override) if override else ANVIL_PACKAGE_BINARY
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    return None


@contextmanager
def run_anvil(
    port: int | None = None,
    *,
    chain_id: int = DEFAULT_CHAIN_ID,
    hardfork: str = DEFAULT_HARDFORK,
    extra_args: Sequence[str] = (),
) -> Iterator[AnvilNode]:
    """Run anvil on 127.0.0.1 (a free port unless one is given) until the block exits.

    Returns once anvil answers `eth_chainId`. The process is killed on exit, also when the
    block raises. Raises RuntimeError if anvil is missing or does not come up; its output is
    then part of the message.
    """
    binary = anvil_binary()
    if binary is None:
        raise RuntimeError(MISSING_REASON)
    attempts = 1 if port is not None else START_ATTEMPTS
    last_error = ""
    for _ in range(attempts):
        chosen = port if port is not None else free_port()
        with tempfile.TemporaryFile() as output:
            command = [str(binary), "--host", "127.0.0.1", "--port", str(chosen), "--quiet"]
            command += ["--chain-id", str(chain_id), "--hardfork", hardfork, *extra_args]
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            try:
                url = f"http://127.0.0.1:{chosen}"
                if _wait_until_answering(process, url, chain_id):
                    yield AnvilNode(url, chain_id, DEV_PRIVATE_KEY, DEV_ADDRESS, process.pid)
                    return
                output.seek(0)
                last_error = output.read().decode(errors="replace")[-2000:]
            finally:
                _stop(process)
    raise RuntimeError(f"anvil did not start on 127.0.0.1: {last_error or 'no output'}")


def _wait_until_answering(process: subprocess.Popen[bytes], url: str, chain_id: int) -> bool:
    """True once anvil answers eth_chainId with our chain id; False if it exited or timed out."""
    request = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            answer = requests.post(url, json=request, timeout=2).json()
        except (requests.RequestException, ValueError):
            time.sleep(0.05)
            continue
        # Anything else answering on that port is not our anvil.
        return answer.get("result") == hex(chain_id)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill anvil (it keeps nothing we need) and reap it."""
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):  # a kill that did not take
        process.wait(timeout=10)
