"""anvil for `benchmarks/vs_flower.py --chain anvil`: the pinned binary of `tests/anvil/`
(`npm ci --prefix tests/anvil`) on a free loopback port, for as long as a run needs it.
The sentinel deploys on it and pays from anvil's first well-known development account."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from swarm_learning.demo.local_swarm import free_port

BINARY = (
    Path(__file__).resolve().parents[2]
    / "tests/anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
)
#: anvil's first development account (its public test mnemonic): funded on every anvil.
FUNDED_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
START_TIMEOUT_S = 30.0


@contextmanager
def anvil_chain() -> Iterator[str]:
    """The URL of a fresh anvil (Prague, like the embedded chain); killed on exit."""
    if not BINARY.is_file():
        raise SystemExit(f"anvil is not installed ({BINARY}): npm ci --prefix tests/anvil")
    url = f"http://127.0.0.1:{free_port()}"
    port = url.rsplit(":", 1)[1]
    command = [
        str(BINARY),
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--quiet",
        "--hardfork",
        "prague",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
                requests.post(url, json=body, timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("anvil did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.kill()
        process.wait()
