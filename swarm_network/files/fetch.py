"""Download weight files from peers' file servers, verifying each against its sha256.

Every byte is hashed while it is written to a temp file (`FileStore.incoming`), so a tampered
or truncated file is refused before it ever appears under its name. Network failures become
PeerUnavailable and wrong content becomes HashMismatch (or InvalidWeights when too large),
each naming the URL, so the sync protocol can tell "try another peer" from "this peer lied".

A peer decides how fast and how much it sends, so three limits are ours, not its:
- `max_bytes`: reading stops as soon as a file is larger (the model's schema says how large
  its file can be), so a peer cannot make us read an endless stream;
- `timeout_s` bounds the whole transfer, from connecting to the last byte, not each read;
- `min_rate_bps`: after `RATE_GRACE_S`, a transfer whose average rate falls below it is cut
  at once, so a trickling peer costs seconds, not the whole time limit.

Why aiohttp on one event loop thread (`Fetcher`): one keep-alive session serves every
download of a node, reads come back as soon as bytes arrive (so the limits above hold between
any two bytes), and hashing and disk writes run in worker threads while the next bytes stream
in (hashlib releases the GIL), instead of one after the other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import aiohttp

from swarm_network.errors import InvalidWeights, PeerUnavailable, SwarmError
from swarm_network.files.store import FileStore, IncomingFile, check_sha256_hex

logger = logging.getLogger(__name__)

#: Least average rate of a transfer once `RATE_GRACE_S` have passed (bytes per second).
MIN_RATE_BPS = 256 * 1024
RATE_GRACE_S = 2.0
#: aiohttp's read buffer (its flow-control high-water mark): large reads, few wake-ups.
READ_BUFFER_BYTES = 4 << 20
#: Bytes gathered before they are handed to a worker thread to be hashed and written.
WRITE_BATCH_BYTES = 1 << 20
DEFAULT_PARALLEL = 4
#: How long `close` waits for the loop thread to end.
CLOSE_TIMEOUT_S = 10.0


def file_url(base_url: str, sha: str) -> str:
    return f"{base_url.rstrip('/')}/files/{sha}"


class Fetcher:
    """Verified downloads into `store` for one node: an event loop thread, one keep-alive
    HTTP session and a few writer threads, started on first use and ended by `close`.

    `submit` may be called from any thread; it returns a `concurrent.futures.Future` whose
    result is the file's path in the store, or which raises the SwarmError that prevented it.
    """

    def __init__(
        self,
        store: FileStore,
        *,
        timeout_s: float,
        min_rate_bps: float = MIN_RATE_BPS,
        max_parallel: int = DEFAULT_PARALLEL,
    ) -> None:
        self.store = store
        self.timeout_s = timeout_s
        self.min_rate_bps = min_rate_bps
        self._max_parallel = max(1, max_parallel)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._writers = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._max_parallel, thread_name_prefix="fetch-write"
        )

    def submit(
        self, sources: Sequence[str], sha: str, *, max_bytes: int | None = None
    ) -> concurrent.futures.Future[Path]:
        """Fetch `sha` from the first of `sources` (file-server base URLs) that delivers it
        intact, trying them in order. At once if the store has it already. ValueError for a
        malformed `sha` (a caller bug, not a bad peer)."""
        check_sha256_hex(sha)
        if self.store.has(sha):
            done: concurrent.futures.Future[Path] = concurrent.futures.Future()
            done.set_result(self.store.path(sha))
            return done
        loop = self._running_loop()
        return asyncio.run_coroutine_threadsafe(self._from_any(list(sources), sha, max_bytes), loop)

    def fetch_many(
        self, jobs: Sequence[tuple[str, str]], *, max_bytes: int | None = None
    ) -> dict[str, Path | SwarmError]:
        """Many `(base_url, sha)` jobs at once; never raises for a bad peer. For each distinct
        sha, its path or the SwarmError that prevented it. Jobs with the same sha are
        alternative sources, tried in the given order, so a file is downloaded once."""
        sources: dict[str, list[str]] = {}
        for base_url, sha in jobs:
            sources.setdefault(check_sha256_hex(sha), []).append(base_url)
        futures = {
            sha: self.submit(urls, sha, max_bytes=max_bytes) for sha, urls in sources.items()
        }
        return {sha: outcome(future) for sha, future in futures.items()}

    def close(self) -> None:
        """Cancel what is still being fetched, close the session, end the threads."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            thread.join(CLOSE_TIMEOUT_S)
        self._writers.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ the loop thread

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_run, args=(loop,), name="fetch", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def _shutdown(self) -> None:
        loop = asyncio.get_running_loop()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        loop.call_soon(loop.stop)

    def _http(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        """The node's session and download slots, made on the loop thread on first use."""
        if self._session is None or self._slots is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_parallel * 2),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout_s),
                read_bufsize=READ_BUFFER_BYTES,
                auto_decompress=False,  # bytes as committed on chain, no content coding
            )
            self._slots = asyncio.Semaphore(self._max_parallel)
        return self._session, self._slots

    # ------------------------------------------------------------------ one file

    async def _from_any(self, sources: list[str], sha: str, max_bytes: int | None) -> Path:
        error: SwarmError = PeerUnavailable(f"no peer offered {sha}")
        for base_url in sources:
            try:
                return await self._download(base_url, sha, max_bytes)
            except SwarmError as exc:
                logger.warning("could not fetch %s: %s", sha, exc)
                error = exc
        raise error

    async def _download(self, base_url: str, sha: str, max_bytes: int | None) -> Path:
        if self.store.has(sha):  # another source (or an earlier job) delivered it meanwhile
            return self.store.path(sha)
        url = file_url(base_url, sha)
        session, slots = self._http()
        async with slots:
            started = asyncio.get_running_loop().time()
            try:
                async with asyncio.timeout_at(started + self.timeout_s):
                    async with session.get(url) as response:
                        if response.status != 200:
                            raise PeerUnavailable(f"{url}: answered HTTP {response.status}")
                        path = await self._receive(response, url, sha, max_bytes, started)
            except TimeoutError as exc:
                raise PeerUnavailable(
                    f"{url}: transfer took longer than its time limit of {self.timeout_s:g}s"
                ) from exc
            except aiohttp.ClientError as exc:
                raise PeerUnavailable(f"{url}: {exc}") from exc
            except InvalidWeights as exc:  # HashMismatch, or larger than max_bytes
                raise type(exc)(f"{url}: {exc}") from exc
        logger.debug("fetched %s from %s", sha, base_url)
        return path

    async def _receive(
        self,
        response: aiohttp.ClientResponse,
        url: str,
        sha: str,
        max_bytes: int | None,
        started: float,
    ) -> Path:
        """Stream the body into the store, hashing and writing one batch in a worker thread
        while the next batch arrives."""
        if max_bytes is not None and (response.content_length or 0) > max_bytes:
            raise InvalidWeights(
                f"file {sha} announces {response.content_length} bytes, "
                f"larger than the limit of {max_bytes} bytes"
            )
        loop = asyncio.get_running_loop()
        incoming = self.store.incoming(sha, max_bytes=max_bytes)
        writing: asyncio.Future[None] | None = None
        try:
            batch: list[bytes] = []
            batched = received = 0
            while piece := await self._next_piece(response, url, received, started):
                received += len(piece)
                if max_bytes is not None and received > max_bytes:
                    raise InvalidWeights(
                        f"file {sha} is larger than the limit of {max_bytes} bytes"
                    )
                batch.append(piece)
                batched += len(piece)
                if batched >= WRITE_BATCH_BYTES:
                    if writing is not None:
                        await writing
                    writing = loop.run_in_executor(self._writers, incoming.write, *batch)
                    batch, batched = [], 0
            if writing is not None:
                await writing
            writing = loop.run_in_executor(self._writers, _write_and_commit, incoming, batch)
            await writing
            return self.store.path(sha)
        except BaseException:
            if writing is not None:  # the worker must be done with the file before it goes
                await asyncio.gather(writing, return_exceptions=True)
            incoming.abort()
            raise

    async def _next_piece(
        self, response: aiohttp.ClientResponse, url: str, received: int, started: float
    ) -> bytes:
        """The next bytes, b"" at the end; PeerUnavailable as soon as the transfer's average
        rate has fallen below the minimum (after the grace period)."""
        loop = asyncio.get_running_loop()
        due = started + max(RATE_GRACE_S, (received + 1) / self.min_rate_bps)
        try:
            return await asyncio.wait_for(response.content.readany(), due - loop.time())
        except TimeoutError as exc:
            elapsed = loop.time() - started
            raise PeerUnavailable(
                f"{url}: slower than the minimum rate of {self.min_rate_bps / 1024:.0f} KiB/s "
                f"({received} bytes in {elapsed:.1f}s)"
            ) from exc


def _run(loop: asyncio.AbstractEventLoop) -> None:
    try:
        loop.run_forever()
    finally:
        loop.close()


def _write_and_commit(incoming: IncomingFile, chunks: list[bytes]) -> None:
    incoming.write(*chunks)
    incoming.commit()


def outcome(future: concurrent.futures.Future[Path]) -> Path | SwarmError:
    """A finished or running fetch's path, or the SwarmError that prevented it (waits)."""
    try:
        return future.result()
    except SwarmError as exc:
        return exc


def fetch_verified(
    base_url: str,
    sha: str,
    store: FileStore,
    *,
    timeout_s: float,
    max_bytes: int | None = None,
    min_rate_bps: float = MIN_RATE_BPS,
) -> Path:
    """One file, with a fetcher of its own (a node fetching often keeps a `Fetcher`): its
    path in `store`, or PeerUnavailable / HashMismatch / InvalidWeights."""
    with Fetcher(store, timeout_s=timeout_s, min_rate_bps=min_rate_bps) as fetcher:
        return fetcher.submit([base_url], sha, max_bytes=max_bytes).result()


def fetch_many(
    jobs: Sequence[tuple[str, str]],
    store: FileStore,
    *,
    timeout_s: float,
    max_parallel: int = DEFAULT_PARALLEL,
    max_bytes: int | None = None,
) -> dict[str, Path | SwarmError]:
    """`Fetcher.fetch_many` with a fetcher of its own."""
    with Fetcher(store, timeout_s=timeout_s, max_parallel=max_parallel) as fetcher:
        return fetcher.fetch_many(jobs, max_bytes=max_bytes)
