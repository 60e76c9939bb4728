"""Small helpers shared by the `swarm` subcommands."""

from __future__ import annotations

import logging
import sys
import time

import requests

from swarm_network.errors import ChainError


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("web3", "urllib3", "aiohttp.access", "eth", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_json(url: str, *, wait_s: float = 0.0, timeout_s: float = 10.0) -> dict:
    """GET a JSON document, retrying for up to `wait_s` while the server is not up yet."""
    deadline = time.monotonic() + wait_s
    delay = 0.1
    while True:
        try:
            response = requests.get(url, timeout=timeout_s)
            body = response.json()
            if response.status_code >= 400:
                raise ChainError(f"{url} answered {response.status_code}: {body.get('error')}")
            return body
        except (requests.RequestException, ValueError) as exc:
            if time.monotonic() >= deadline:
                raise ChainError(f"cannot reach {url}: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
