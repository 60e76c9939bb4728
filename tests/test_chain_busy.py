"""A chain endpoint that answers EIP-1474's -32005 "limit exceeded" (the sentinel's fair call
queue does, for a client with too many calls waiting) is busy, not broken: reads are tried
again with backoff, as while it is unreachable, and fail only once the retry time is over.
Found with `swarm demo --learners 16`: 15 learners behind one SN node share one client
address, and a learner died of the first refusal."""

from __future__ import annotations

from aiohttp import web

from swarm_network.chain import SwarmContract, connect
from swarm_network.errors import ChainUnavailable
from swarm_network.files.server import BackgroundServer

BUSY_ANSWERS = 3
CONTRACT = "0x" + "11" * 20


def busy_then_fine_app(busy: int) -> tuple[web.Application, list[str]]:
    """JSON-RPC that refuses the first `busy` requests with -32005, then answers block 7."""
    seen: list[str] = []

    async def rpc(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body["method"])
        if len(seen) <= busy:
            error = {"code": -32005, "message": "limit exceeded: at most 8 calls at a time"}
            return web.json_response({"jsonrpc": "2.0", "id": body["id"], "error": error})
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": "0x7"})

    app = web.Application()
    app.add_routes([web.post("/", rpc)])
    return app, seen


def test_a_busy_endpoint_is_retried_until_it_answers() -> None:
    app, seen = busy_then_fine_app(BUSY_ANSWERS)
    with BackgroundServer(app) as server:
        contract = SwarmContract(w3=connect(server.url), address=CONTRACT, retry_s=30)
        assert contract.block_number() == 7
    assert seen == ["eth_blockNumber"] * (BUSY_ANSWERS + 1)


def test_without_retry_time_a_busy_endpoint_is_unavailable_not_an_error() -> None:
    app, seen = busy_then_fine_app(BUSY_ANSWERS)
    with BackgroundServer(app) as server:
        contract = SwarmContract(w3=connect(server.url), address=CONTRACT, retry_s=0)
        try:
            contract.block_number()
        except ChainUnavailable as exc:
            assert "busy" in str(exc)
        else:
            raise AssertionError("a busy answer was taken for a block number")
    assert seen == ["eth_blockNumber"]
