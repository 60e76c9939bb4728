"""A peer cannot flood or stall a learner's transfer (real chain, real HTTP, learners in
threads): a file server pushing far more bytes than the model's file can hold is cut off at
the size the schema allows, and one trickling its file is cut off when the whole transfer's
time limit (or the minimum rate) is spent, not after each slow read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from round_swarm import Chain, Learner, arrays_of, make_learners, run_rounds, running_chain, stop

from swarm_network.errors import PeerUnavailable
from swarm_network.files.fetch import fetch_verified
from swarm_network.files.server import BackgroundServer
from swarm_network.files.store import FileStore

FLOOD_BYTES = 200 * 1024 * 1024
FLOOD_CHUNK = b"\x00" * (1 << 20)
TRICKLE_PERIOD_S = 0.25
TRICKLE_FOR_S = 20.0  # the trickling peer gives up by itself, so a failing test still ends


class SentCounter:
    def __init__(self) -> None:
        self.sent = 0


def flood_app(counter: SentCounter) -> web.Application:
    """Answers every file with FLOOD_BYTES of zeros, counting what it managed to send."""

    async def flood(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = FLOOD_BYTES
        await response.prepare(request)
        while counter.sent < FLOOD_BYTES:
            await response.write(FLOOD_CHUNK)
            counter.sent += len(FLOOD_CHUNK)
        return response

    app = web.Application()
    app.router.add_get("/files/{sha256}", flood)
    return app


def trickle_app() -> web.Application:
    """Answers every file one byte every TRICKLE_PERIOD_S, for at most TRICKLE_FOR_S."""

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        until = time.monotonic() + TRICKLE_FOR_S
        while time.monotonic() < until:
            await response.write(b"\x01")
            await asyncio.sleep(TRICKLE_PERIOD_S)
        return response

    app = web.Application()
    app.router.add_get("/files/{sha256}", trickle)
    return app


@pytest.fixture
def chain() -> Iterator[Chain]:
    yield from running_chain()


def serve_from(learner: Learner, app: web.Application) -> BackgroundServer:
    """Swap `learner`'s honest file server for `app`, announced on chain as its file URL."""
    learner.server.stop()
    bad = BackgroundServer(app, shutdown_timeout=0.2).start()
    learner.server = bad
    learner.rounds.contract.set_file_url(bad.url)
    return bad


def test_a_flooding_peer_is_cut_off_at_the_model_size(chain: Chain, tmp_path: Path) -> None:
    a, b = learners = make_learners(chain, tmp_path, 2, min_peers=2)
    counter = SentCounter()
    try:
        ours, theirs = arrays_of(1.0), arrays_of(3.0)
        a.serve(ours)
        serve_from(b, flood_app(counter))
        (merged_a, result_a), _ = run_rounds(learners, [ours, theirs])
    finally:
        stop(learners)
    assert [address for address, _ in result_a.refused] == [b.address]
    assert "larger" in result_a.refused[0][1]
    assert result_a.merged_from == (a.address,)
    # The model's file is a few hundred bytes: what got out of the flood is socket buffers.
    assert counter.sent < 32 * 1024 * 1024, f"{counter.sent} bytes read from the flood"


def test_a_trickling_peer_is_cut_off_by_the_transfer_time_limit(
    chain: Chain, tmp_path: Path
) -> None:
    timeout_s = 2.0
    a, b = learners = make_learners(
        chain, tmp_path, 2, min_peers=2, overrides={"peer_timeout_s": timeout_s}
    )
    try:
        ours, theirs = arrays_of(1.0), arrays_of(3.0)
        a.serve(ours)
        serve_from(b, trickle_app())
        (_, result_a), _ = run_rounds(learners, [ours, theirs])
    finally:
        stop(learners)
    assert [address for address, _ in result_a.refused] == [b.address]
    assert result_a.merged_from == (a.address,)
    # One try, and one more at the peer's (unchanged) address is not made: bounded by one limit.
    assert result_a.transfer_s < timeout_s + 1.5, f"transfer took {result_a.transfer_s:.1f}s"


def test_a_trickle_below_the_minimum_rate_is_cut_off_early(tmp_path: Path) -> None:
    """With a generous time limit, the minimum rate still ends a transfer that crawls."""
    store = FileStore(tmp_path / "client")
    with BackgroundServer(trickle_app(), shutdown_timeout=0.2) as slow:
        started = time.monotonic()
        with pytest.raises(PeerUnavailable, match="rate|time limit"):
            fetch_verified(slow.url, "5" * 64, store, timeout_s=60.0)
        elapsed = time.monotonic() - started
    assert elapsed < 6.0, f"a trickle held the transfer {elapsed:.1f}s"
    assert list(store.root.iterdir()) == []
