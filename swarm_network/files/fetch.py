"""Download weight files from peers' file servers, verifying each against its sha256.

Every byte is hashed while it is written to a temp file (`FileStore.put_verified_stream`), so
a tampered or truncated file is refused before it ever appears under its name. Network
failures become PeerUnavailable and wrong content becomes HashMismatch, each naming the URL,
so the sync protocol can tell "try another peer" from "this peer lied".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from swarm_network.errors import InvalidWeights, PeerUnavailable, SwarmError
from swarm_network.files.store import FileStore, check_sha256_hex

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20  # 1 MiB


def file_url(base_url: str, sha: str) -> str:
    return f"{base_url.rstrip('/')}/files/{sha}"


def _chunks(response: requests.Response, url: str, deadline: float | None) -> Iterator[bytes]:
    for chunk in response.iter_content(chunk_size=CHUNK_SIZE):
        if deadline is not None and time.monotonic() > deadline:
            raise PeerUnavailable(f"{url}: transfer took longer than its total time limit")
        yield chunk


def fetch_verified(
    base_url: str,
    sha: str,
    store: FileStore,
    *,
    timeout_s: float,
    session: requests.Session | None = None,
    total_timeout_s: float | None = None,
    max_bytes: int | None = None,
) -> Path:
    """Fetch `{base_url}/files/{sha}` into `store` and return its path there.

    `timeout_s` bounds connecting and each wait for data (requests' semantics);
    `total_timeout_s`, if given, bounds the whole transfer, so a peer trickling bytes cannot
    hold us forever; `max_bytes`, if given, refuses larger files (InvalidWeights). Returns at
    once if the store already has `sha`. Raises ValueError for a malformed `sha`,
    PeerUnavailable (connection error, timeout, non-200 answer) or HashMismatch.
    """
    check_sha256_hex(sha)
    if store.has(sha):
        return store.path(sha)
    url = file_url(base_url, sha)
    deadline = None if total_timeout_s is None else time.monotonic() + total_timeout_s
    http = session if session is not None else requests.Session()
    try:
        with http.get(url, stream=True, timeout=timeout_s) as response:
            if response.status_code != 200:
                raise PeerUnavailable(f"{url}: answered HTTP {response.status_code}")
            path = store.put_verified_stream(
                _chunks(response, url, deadline), sha, max_bytes=max_bytes
            )
    except requests.RequestException as exc:
        raise PeerUnavailable(f"{url}: {exc}") from exc
    except InvalidWeights as exc:  # HashMismatch, or larger than max_bytes
        raise type(exc)(f"{url}: {exc}") from exc
    finally:
        if session is None:
            http.close()
    logger.debug("fetched %s from %s", sha, base_url)
    return path


def _fetch_from_any(
    sources: list[str], sha: str, store: FileStore, timeout_s: float
) -> Path | SwarmError:
    """Try each peer in turn; the first good copy wins, else the last peer's error."""
    error: SwarmError = PeerUnavailable(f"no peer offered {sha}")
    for base_url in sources:
        try:
            return fetch_verified(base_url, sha, store, timeout_s=timeout_s)
        except SwarmError as exc:
            logger.warning("could not fetch %s: %s", sha, exc)
            error = exc
    return error


def fetch_many(
    jobs: list[tuple[str, str]],
    store: FileStore,
    *,
    timeout_s: float,
    max_workers: int = 4,
) -> dict[str, Path | SwarmError]:
    """Fetch many `(base_url, sha)` jobs in parallel threads; never raises for a bad peer.

    Returns, for each distinct sha, its path in `store` or the SwarmError that prevented it.
    Several jobs with the same sha are alternative sources, tried in the given order (one
    thread per sha), so a file is downloaded once even if many peers offer it. Malformed shas
    raise ValueError before anything starts (that is a caller bug, not a bad peer).
    """
    sources: dict[str, list[str]] = {}
    for base_url, sha in jobs:
        sources.setdefault(check_sha256_hex(sha), []).append(base_url)
    if not sources:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="fetch") as pool:
        futures = {
            sha: pool.submit(_fetch_from_any, urls, sha, store, timeout_s)
            for sha, urls in sources.items()
        }
        return {sha: future.result() for sha, future in futures.items()}
