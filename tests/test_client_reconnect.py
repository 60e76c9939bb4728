"""A learner's chain client rides out an endpoint that goes away and comes back (a sentinel
restarting): reads and transactions retry with backoff, and a transaction is applied once."""

from __future__ import annotations

import threading
import time

import pytest
from eth_account import Account

from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.rpc_server import create_rpc_app
from swarm_learning.demo.local_swarm import free_port
from swarm_network.chain import SwarmContract, connect
from swarm_network.errors import ChainUnavailable
from swarm_network.files.server import BackgroundServer


def test_transactions_and_reads_wait_for_the_chain_to_come_back() -> None:
    admin = Account.create()
    chain = EmbeddedChain(funded_accounts={admin.address: 10**24})
    port = free_port()
    server = BackgroundServer(create_rpc_app(chain), port=port).start()
    url = f"http://127.0.0.1:{port}"
    contract = SwarmContract.deploy(w3=connect(url), account=admin, sentinel_file_url="http://a")
    patient = SwarmContract(w3=connect(url), address=contract.address, account=admin, retry_s=30)
    impatient = SwarmContract(w3=connect(url), address=contract.address, retry_s=0)
    server.stop()
    restarted: list[BackgroundServer] = []

    def restart_server() -> None:
        restarted.append(BackgroundServer(create_rpc_app(chain), port=port).start())

    restart = threading.Timer(1.5, restart_server)
    try:
        restart.start()
        started = time.monotonic()
        with pytest.raises(ChainUnavailable):
            impatient.current_step()  # a client without retries fails at once
        assert time.monotonic() - started < 1.0
        patient.set_file_url("http://b")  # sent while the endpoint is down
        assert time.monotonic() - started >= 1.0
        assert patient.node(admin.address).file_url == "http://b"
        blocks_before = patient.block_number()
        patient.set_file_url("http://c")  # the nonce is still right afterwards
        assert patient.block_number() == blocks_before + 1
    finally:
        restart.join()
        for server in restarted:
            server.stop()
