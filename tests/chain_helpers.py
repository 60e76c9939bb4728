"""Chains to test against, and a SwarmLearning contract deployed on one. Not a test module.

Two chains: the sentinel's embedded chain behind its real JSON-RPC server (a free loopback
port, a background thread), and anvil (`tests/anvil_node.py`), an independent Ethereum node.
Whatever runs against a `ChainEndpoint` must not be able to tell them apart: that is what makes
the embedded chain replaceable. The fixtures of `tests/conftest.py` are built on these.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from anvil_node import MISSING_REASON, anvil_binary, run_anvil
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.rpc_server import create_rpc_app
from swarm_network.chain import SwarmContract, connect
from swarm_network.files.server import BackgroundServer

CHAIN_ID = 1337  # the sentinel's default
BANK_WEI = 10**24  # what the embedded chain's bank holds (anvil's dev account: 10 000 ETH)
LEARNER_WEI = 10**18
CHAIN_KINDS = ("embedded", "anvil")
ZERO_HASH = "0" * 64
#: Gas for deploying SwarmLearning in tests that sign raw transactions: its bytecode is near
#: 15 kB (over 3 M gas to deploy); room to grow.
DEPLOY_GAS = 6_000_000


def h(label: str) -> str:
    """A sha256 hex digest standing in for a weight file's or merged model's hash."""
    return hashlib.sha256(label.encode()).hexdigest()


def require_anvil() -> None:
    """Skip the calling test (or fixture) when the pinned anvil is not installed."""
    if anvil_binary() is None:
        pytest.skip(MISSING_REASON)


@dataclass(frozen=True)
class ChainServer:
    """The embedded chain in this process, and the URL of its JSON-RPC server."""

    chain: EmbeddedChain
    url: str


@contextmanager
def serve_embedded_chain(
    funded_accounts: Mapping[str, int], *, chain_id: int = CHAIN_ID, **rpc_options: Any
) -> Iterator[ChainServer]:
    """A fresh embedded chain behind `create_rpc_app(chain, **rpc_options)` until the block
    exits (the server is stopped also when the block raises)."""
    chain = EmbeddedChain(funded_accounts=funded_accounts, chain_id=chain_id)
    server = BackgroundServer(create_rpc_app(chain, **rpc_options)).start()
    try:
        yield ChainServer(chain=chain, url=server.url)
    finally:
        server.stop()


@dataclass(frozen=True)
class ChainEndpoint:
    """A JSON-RPC endpoint of one kind of chain, and an account funded on it."""

    kind: str  # one of CHAIN_KINDS
    url: str
    bank: LocalAccount  # deploys contracts and funds the accounts a test creates


@contextmanager
def run_chain(kind: str) -> Iterator[ChainEndpoint]:
    """A fresh chain of `kind` until the block exits. anvil must be installed (see
    `require_anvil`)."""
    if kind == "embedded":
        bank = Account.create()
        with serve_embedded_chain({bank.address: BANK_WEI}) as server:
            yield ChainEndpoint(kind=kind, url=server.url, bank=bank)
    elif kind == "anvil":
        with run_anvil() as node:
            yield ChainEndpoint(kind=kind, url=node.url, bank=Account.from_key(node.funded_key))
    else:
        raise ValueError(f"unknown chain kind {kind!r}, expected one of {CHAIN_KINDS}")


@dataclass
class DeployedSwarm:
    """A fresh SwarmLearning contract: its admin (the deployer, a network node like the
    sentinel) and funded, enrolled learners, each with its own key. Training not configured."""

    admin: SwarmContract
    learners: list[SwarmContract]
    w3: Web3

    @property
    def address(self) -> str:
        return self.admin.address

    def funded_account(self, wei: int = LEARNER_WEI) -> SwarmContract:
        """A new funded account on the contract, not enrolled."""
        account = Account.create()
        self.admin.send_value(account.address, wei)
        return SwarmContract(w3=self.w3, address=self.address, account=account)

    def configure(self, *, min_peers: int, grace_seconds: int) -> None:
        """Learner 0 configures the training (fedavg, no parameters, no staleness)."""
        self.learners[0].configure_training(
            min_peers=min_peers,
            grace_seconds=grace_seconds,
            merge_method="fedavg",
            merge_params="{}",
        )

    def head_timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def next_block_at_least(self, timestamp: int) -> None:
        """Wait until the next block's timestamp is >= `timestamp`.

        Both chains stamp a block max(wall clock, parent) (several blocks a second share a
        timestamp), so the next block is at least max(wall clock, head): waiting is what a
        real swarm does too.
        """
        deadline = time.monotonic() + 30
        while max(int(time.time()), self.head_timestamp()) < timestamp:
            assert time.monotonic() < deadline, "chain time did not advance"
            time.sleep(max(0.05, min(1.0, timestamp - time.time())))

    def check_in(self, i: int, step: int, base: str = ZERO_HASH, weightage: int = 10) -> None:
        """Learner `i` checks in for `step` with the stand-in hash of its weights there."""
        self.learners[i].check_in(
            step=step, weight_hash=h(f"weights-{i}-{step}"), weightage=weightage, base_hash=base
        )


def deploy_swarm(
    endpoint: ChainEndpoint, *, learners: int, learner_wei: int = LEARNER_WEI
) -> DeployedSwarm:
    """Deploy a contract with `endpoint`'s bank, then fund and enroll `learners` new learners
    (file URLs `http://learner-<i>`)."""
    w3 = connect(endpoint.url)
    admin = SwarmContract.deploy(w3=w3, account=endpoint.bank, sentinel_file_url="http://sentinel")
    swarm = DeployedSwarm(admin=admin, learners=[], w3=w3)
    for i in range(learners):
        learner = swarm.funded_account(learner_wei)
        admin.enroll(learner.account.address, "learner", f"http://learner-{i}")
        swarm.learners.append(learner)
    return swarm
