"""Peer file server and verified fetching, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from aiohttp import web

from swarm_network.errors import HashMismatch, InvalidWeights, PeerUnavailable, PortInUse
from swarm_network.files.fetch import Fetcher, fetch_many, fetch_verified
from swarm_network.files.server import STORE_KEY, BackgroundServer, create_file_app, serve_file
from swarm_network.files.store import FileStore

TIMEOUT_S = 5.0


@pytest.fixture
def server_store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "server")


@pytest.fixture
def client_store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "client")


@pytest.fixture
def server(server_store: FileStore) -> Iterator[BackgroundServer]:
    background = BackgroundServer(create_file_app(server_store), port=0)
    background.start()
    try:
        yield background
    finally:
        background.stop()


def tamper(store: FileStore, claimed: bytes, actual: bytes) -> str:
    """Write `actual` under the name of `claimed`'s hash, as a lying peer would."""
    digest = hashlib.sha256(claimed).hexdigest()
    store.path(digest).write_bytes(actual)
    return digest


def test_health(server: BackgroundServer) -> None:
    assert server.port > 0
    response = requests.get(f"{server.url}/health", timeout=TIMEOUT_S)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_get_and_head_serve_the_file(server: BackgroundServer, server_store: FileStore) -> None:
    data = b"\x00\x01weights" * 1000
    digest = server_store.put_bytes(data)
    response = requests.get(f"{server.url}/files/{digest}", timeout=TIMEOUT_S)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.content == data
    head = requests.head(f"{server.url}/files/{digest}", timeout=TIMEOUT_S)
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == len(data)
    assert head.content == b""


@pytest.mark.parametrize("bad", ["nothex", "A" * 64, "a" * 63, "..%2F..%2Fetc%2Fpasswd"])
def test_bad_id_is_400_json(server: BackgroundServer, bad: str) -> None:
    response = requests.get(f"{server.url}/files/{bad}", timeout=TIMEOUT_S)
    assert response.status_code == 400
    assert "sha256" in response.json()["error"]


def test_unknown_file_is_404_json(server: BackgroundServer) -> None:
    response = requests.get(f"{server.url}/files/{'0' * 64}", timeout=TIMEOUT_S)
    assert response.status_code == 404
    assert "0" * 64 in response.json()["error"]


def test_fetch_verified_ok(
    server: BackgroundServer, server_store: FileStore, client_store: FileStore
) -> None:
    data = bytes(range(256)) * 9000  # > 2 MiB: several 1 MiB chunks
    digest = server_store.put_bytes(data)
    path = fetch_verified(server.url, digest, client_store, timeout_s=TIMEOUT_S)
    assert path == client_store.path(digest)
    assert path.read_bytes() == data


def test_a_fetcher_reuses_one_connection_per_peer(
    server_store: FileStore, client_store: FileStore
) -> None:
    """Keep-alive: several files from one peer come over one TCP connection."""
    peers: list[object] = []

    async def record_peer(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        return await serve_file(request)

    digests = [server_store.put_bytes(f"file {i}".encode()) for i in range(3)]
    app = web.Application()
    app[STORE_KEY] = server_store
    app.router.add_get("/files/{sha256}", record_peer)
    with BackgroundServer(app) as server, Fetcher(client_store, timeout_s=TIMEOUT_S) as fetcher:
        for digest in digests:
            assert fetcher.submit([server.url], digest).result() == client_store.path(digest)
    assert len(peers) == 3
    assert len(set(peers)) == 1, peers


def test_fetch_returns_at_once_when_already_stored(client_store: FileStore) -> None:
    digest = client_store.put_bytes(b"local copy")
    # No server listens on this URL: a network call would fail.
    path = fetch_verified("http://127.0.0.1:9", digest, client_store, timeout_s=0.5)
    assert path.read_bytes() == b"local copy"


def test_tampered_file_is_refused_and_not_stored(
    server: BackgroundServer, server_store: FileStore, client_store: FileStore
) -> None:
    digest = tamper(server_store, b"honest weights", b"poisoned weights")
    with pytest.raises(HashMismatch) as caught:
        fetch_verified(server.url, digest, client_store, timeout_s=TIMEOUT_S)
    assert server.url in str(caught.value)
    assert not client_store.has(digest)
    assert list(client_store.root.iterdir()) == []


def test_size_limit_is_enforced(
    server: BackgroundServer, server_store: FileStore, client_store: FileStore
) -> None:
    digest = server_store.put_bytes(b"y" * 5000)
    with pytest.raises(InvalidWeights, match="limit"):
        fetch_verified(server.url, digest, client_store, timeout_s=TIMEOUT_S, max_bytes=4096)
    assert list(client_store.root.iterdir()) == []


def test_unknown_file_is_peer_unavailable(
    server: BackgroundServer, client_store: FileStore
) -> None:
    with pytest.raises(PeerUnavailable, match="404"):
        fetch_verified(server.url, "1" * 64, client_store, timeout_s=TIMEOUT_S)


def test_dead_peer_is_peer_unavailable(server_store: FileStore, client_store: FileStore) -> None:
    with BackgroundServer(create_file_app(server_store)) as gone:
        url = gone.url
    with pytest.raises(PeerUnavailable, match=re.escape(url)):
        fetch_verified(url, "2" * 64, client_store, timeout_s=TIMEOUT_S)


def test_slow_peer_times_out(client_store: FileStore) -> None:
    async def stall(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=b"too late")

    app = web.Application()
    app.router.add_get("/files/{sha256}", stall)
    slow = BackgroundServer(app, shutdown_timeout=0.2).start()
    try:
        with pytest.raises(PeerUnavailable, match=re.escape(slow.url)):
            fetch_verified(slow.url, "3" * 64, client_store, timeout_s=0.3)
    finally:
        slow.stop()
    assert list(client_store.root.iterdir()) == []


def test_fetch_many_reports_each_file_and_never_raises(
    server: BackgroundServer, server_store: FileStore, client_store: FileStore
) -> None:
    good = [server_store.put_bytes(f"model {index}".encode()) for index in range(3)]
    forged = tamper(server_store, b"claimed", b"forged")
    missing = "4" * 64
    jobs = [(server.url, digest) for digest in good] + [
        (server.url, forged),
        (server.url, missing),
    ]
    results = fetch_many(jobs, client_store, timeout_s=TIMEOUT_S, max_parallel=3)
    assert set(results) == {*good, forged, missing}
    for digest in good:
        assert results[digest] == client_store.path(digest)
    assert isinstance(results[forged], HashMismatch)
    assert isinstance(results[missing], PeerUnavailable)


def test_fetch_many_falls_back_to_another_peer(
    server: BackgroundServer, server_store: FileStore, tmp_path: Path, client_store: FileStore
) -> None:
    data = b"the agreed model"
    liar_store = FileStore(tmp_path / "liar")
    digest = tamper(liar_store, data, b"not the agreed model")
    server_store.put_bytes(data)
    with BackgroundServer(create_file_app(liar_store)) as liar:
        results = fetch_many(
            [(liar.url, digest), (server.url, digest)], client_store, timeout_s=TIMEOUT_S
        )
    assert results == {digest: client_store.path(digest)}
    assert client_store.read_bytes(digest) == data


def test_background_server_reports_a_busy_port(server: BackgroundServer) -> None:
    other = BackgroundServer(web.Application(), port=server.port)
    with pytest.raises(PortInUse, match=f"port {server.port} on 127.0.0.1 is already in use"):
        other.start()
    other.stop()  # harmless after a failed start


def test_stop_is_idempotent_and_frees_the_port(server_store: FileStore) -> None:
    background = BackgroundServer(create_file_app(server_store)).start()
    url = background.url
    background.stop()
    background.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/health", timeout=1)
