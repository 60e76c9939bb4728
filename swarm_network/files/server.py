"""The peer file server: serves a FileStore's files by sha256 over HTTP, and a helper to run
any aiohttp application in a background thread.

Why a thread: a learner's training loop is synchronous torch code that must not stop while
peers download its weights, so its server runs beside it with its own event loop. Files are
streamed with `web.FileResponse` (sendfile or chunked reads off the loop), so serving a large
model does not block other requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from types import TracebackType

from aiohttp import web

from swarm_network.defaults import FILE_SERVER, LOOPBACK, WILDCARD_HOSTS
from swarm_network.errors import listen_error
from swarm_network.files.store import FileStore, is_sha256_hex
from swarm_network.http_log import quiet_bad_requests

logger = logging.getLogger(__name__)

STORE_KEY: web.AppKey[FileStore] = web.AppKey("file_store", FileStore)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def serve_file(request: web.Request) -> web.StreamResponse:
    """`GET /files/{sha256}` of the store in `request.app[STORE_KEY]`."""
    sha = request.match_info["sha256"]
    if not is_sha256_hex(sha):
        return _error(400, "file id must be a sha256 hex string (64 lowercase hex characters)")
    path = request.app[STORE_KEY].path(sha)
    if not path.is_file():
        return _error(404, f"no file {sha}")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/octet-stream",
            # Content-addressed: the bytes behind a name never change.
            "Cache-Control": "public, max-age=31536000, immutable",
        },
    )


def create_file_app(store: FileStore) -> web.Application:
    """`GET /health`, and `GET`/`HEAD /files/{sha256}` serving `store`."""
    app = web.Application()
    app[STORE_KEY] = store
    app.add_routes(
        [
            web.get("/health", _health),
            web.get("/files/{sha256}", serve_file),  # also answers HEAD
        ]
    )
    return app


class BackgroundServer:
    """Run a `web.Application` in its own thread and event loop.

    `start()` returns once the socket is listening (port 0 picks a free port; read `.port`)
    and re-raises a start-up failure such as a port in use. `stop()` closes the listener,
    gives in-flight requests up to `shutdown_timeout` seconds, and joins the thread.
    """

    def __init__(
        self,
        app: web.Application,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        shutdown_timeout: float = 5.0,
        start_timeout: float = 10.0,
    ) -> None:
        self._app = app
        self._host = host
        self._requested_port = port
        self._shutdown_timeout = shutdown_timeout
        self._start_timeout = start_timeout
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._port: int | None = None

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The port actually bound (known once `start()` has returned)."""
        if self._port is None:
            raise RuntimeError("server is not running")
        return self._port

    @property
    def url(self) -> str:
        """Base URL for clients; a wildcard bind host is reached through loopback."""
        host = LOOPBACK if self._host in WILDCARD_HOSTS else self._host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> BackgroundServer:
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._thread = threading.Thread(target=self._run, name="file-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._start_timeout):
            raise TimeoutError(f"server on {self._host}:{self._requested_port} did not start")
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise self._startup_error
        logger.info("serving on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and join the thread; safe to call more than once."""
        thread = self._thread
        if thread is None:
            return
        loop, stop_event = self._loop, self._stop_event
        if loop is not None and stop_event is not None and not loop.is_closed():
            # RuntimeError: the loop closed between the check and the call; nothing to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(self._shutdown_timeout + 5.0)
        if thread.is_alive():
            logger.warning("server thread on port %s did not stop in time", self._port)
        self._thread = None
        self._port = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(), or logged if it happens later
            if not self._ready.is_set():
                self._startup_error = exc
                self._ready.set()
            else:
                logger.exception("background server failed")

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        runner = web.AppRunner(
            self._app,
            handle_signals=False,
            shutdown_timeout=self._shutdown_timeout,
            access_log=None,
        )
        await runner.setup()
        quiet_bad_requests()
        try:
            site = web.TCPSite(runner, self._host, self._requested_port)
            try:
                await site.start()
            except OSError as exc:
                raise listen_error(FILE_SERVER, self._host, self._requested_port, exc) from exc
            self._port = int(runner.addresses[0][1])
            self._ready.set()
            await self._stop_event.wait()
        finally:
            await runner.cleanup()
