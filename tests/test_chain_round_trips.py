"""A check-in is one HTTP round trip to the chain (send and receipt in one JSON-RPC batch,
no dry run), and so is a read (no eth_chainId before each eth_call), on the real embedded
chain behind its real JSON-RPC server."""

from __future__ import annotations

import pytest
from aiohttp import web
from eth_account import Account

from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.rpc_server import create_rpc_app
from swarm_network.chain import SwarmContract, connect
from swarm_network.errors import StepNotOpen
from swarm_network.files.server import BackgroundServer

ZERO = "0" * 64


def test_a_check_in_is_one_round_trip_and_a_refusal_still_has_its_type() -> None:
    admin = Account.create()
    learner = Account.create()
    requests_seen: list[str] = []

    @web.middleware
    async def count(request: web.Request, handler):  # type: ignore[no-untyped-def]
        requests_seen.append(request.method)
        return await handler(request)

    app = create_rpc_app(EmbeddedChain(funded_accounts={admin.address: 10**24}))
    app.middlewares.append(count)
    with BackgroundServer(app) as server:
        contract = SwarmContract.deploy(
            w3=connect(server.url), account=admin, sentinel_file_url="http://127.0.0.1:1"
        )
        contract.enroll(learner.address, "learner", "http://127.0.0.1:2")
        contract.send_value(learner.address, 10**20)
        client = SwarmContract(w3=connect(server.url), address=contract.address, account=learner)
        client.configure_training(
            min_peers=1, grace_seconds=0, merge_method="mean", merge_params="{}"
        )
        # The only live learner's check-in closes step 0; its nonce and gas price are known.
        client.check_in(step=0, weight_hash="1" * 64, weightage=1, base_hash=ZERO)
        assert client.step(0).closed
        requests_seen.clear()
        block = client.check_in(step=1, weight_hash="2" * 64, weightage=1, base_hash="3" * 64)
        assert requests_seen == ["POST"]
        assert block == client.block_number()
        requests_seen.clear()
        with pytest.raises(StepNotOpen):
            client.check_in(step=0, weight_hash="4" * 64, weightage=1, base_hash=ZERO)
        assert requests_seen == ["POST"]  # the refusal came back in the receipt
        requests_seen.clear()
        assert client.step(1).closed
        assert requests_seen == ["POST"]  # the read alone: web3 asked eth_chainId before it
