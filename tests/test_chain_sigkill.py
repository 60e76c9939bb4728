"""SIGKILL while clients are sending loses no transaction a client saw confirmed.

The embedded chain runs behind its JSON-RPC server in a child process, as the sentinel runs
it; web3 clients send to it from threads; it is killed with SIGKILL at a random moment of a
transaction's life, twice, and restarted on its journal each time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain_helpers import DEPLOY_GAS
from eth_account.signers.local import LocalAccount
from journal_helpers import (
    ADMIN,
    FUNDED,
    PAYER,
    SINK,
    deploy_data,
    set_url_data,
    sign,
    tx_fields,
)
from process_helpers import ProcessReaper
from web3 import Web3
from web3.providers.rpc import HTTPProvider

SERVER_SCRIPT = """
import asyncio, json, logging, sys
from aiohttp import web
from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.rpc_server import create_rpc_app

async def main():
    chain = EmbeddedChain(funded_accounts=json.loads(sys.argv[1]), journal_path=sys.argv[2])
    runner = web.AppRunner(create_rpc_app(chain), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()

logging.basicConfig(level=logging.INFO)
asyncio.run(main())
"""


class ChainProcess:
    """The chain behind its JSON-RPC server in a child process, as the sentinel runs it."""

    def __init__(self, journal: Path, log_path: Path, processes: ProcessReaper) -> None:
        with log_path.open("ab") as log:
            self.process = processes.start(
                [sys.executable, "-c", SERVER_SCRIPT, json.dumps(FUNDED), str(journal)],
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self.process.stdout is not None
        with self.process.stdout:  # it prints its port, then nothing more
            port = self.process.stdout.readline().strip()
        if not port:
            raise AssertionError(f"chain process did not start: {log_path.read_text()}")
        self.w3 = Web3(
            HTTPProvider(f"http://127.0.0.1:{int(port)}", request_kwargs={"timeout": 30})
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


@dataclass
class Confirmed:
    tx_hash: str
    block_hash: str
    block_number: int


class Sender(threading.Thread):
    """Sends transactions one after another; keeps every receipt it was given."""

    def __init__(
        self, w3: Web3, account: LocalAccount, build: Callable[[int], dict[str, Any]]
    ) -> None:
        super().__init__(daemon=True)
        self.w3, self.account, self.build = w3, account, build
        self.confirmed: list[Confirmed] = []
        self.nonce = w3.eth.get_transaction_count(account.address, "latest")
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            signed = self.account.sign_transaction(self.build(self.nonce))
            try:
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)
            except Exception:  # the server died under us: stop, keeping what was confirmed
                return
            block_hash = receipt["blockHash"].to_0x_hex()
            self.confirmed.append(
                Confirmed(tx_hash.to_0x_hex(), block_hash, receipt["blockNumber"])
            )
            self.nonce += 1


def test_sigkill_while_sending_loses_no_confirmed_transaction(
    tmp_path: Path, processes: ProcessReaper
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    journal = tmp_path / "chain.journal"

    def start() -> ChainProcess:
        return ChainProcess(journal, tmp_path / "chain.log", processes)

    server = start()
    deploy = server.w3.eth.send_raw_transaction(sign(ADMIN, 0, data=deploy_data(), gas=DEPLOY_GAS))
    contract = server.w3.eth.get_transaction_receipt(deploy)["contractAddress"]

    def transfer(nonce: int) -> dict[str, Any]:
        return tx_fields(nonce, to=SINK, value=nonce + 1, gas=21_000)

    def set_url(nonce: int) -> dict[str, Any]:
        return tx_fields(nonce, to=contract, data=set_url_data(f"http://s/{nonce}"), gas=300_000)

    confirmed: list[Confirmed] = []
    for _round in range(2):
        senders = [Sender(server.w3, PAYER, transfer), Sender(server.w3, ADMIN, set_url)]
        for sender in senders:
            sender.start()
        target = rng.randint(6, 16)
        deadline = time.monotonic() + 30
        while sum(len(s.confirmed) for s in senders) < target and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.03))  # land the kill anywhere in a transaction's life
        server.kill()
        for sender in senders:
            sender.stopped.set()
            sender.join(timeout=30)
        round_confirmed = [c for s in senders for c in s.confirmed]
        assert len(round_confirmed) >= target, f"seed {seed}"
        confirmed += round_confirmed

        server = start()
        for tx in confirmed:
            receipt = server.w3.eth.get_transaction_receipt(tx.tx_hash)
            assert receipt["blockHash"].to_0x_hex() == tx.block_hash, f"seed {seed}"
            block = server.w3.eth.get_block(tx.block_number)
            assert block["hash"].to_0x_hex() == tx.block_hash, f"seed {seed}"
    # And the restarted chain keeps working, on top of whatever made it to the journal.
    nonce = server.w3.eth.get_transaction_count(PAYER.address, "latest")
    tx_hash = server.w3.eth.send_raw_transaction(sign(PAYER, nonce, to=SINK, value=1, gas=21_000))
    assert server.w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
