"""Read-your-writes of the live view, and what it costs the chain.

A REST read on an SN node reflects every block the chain had when the read began (a client
that sent a transaction through an SN node and then reads sees it), while concurrent readers
share one catch-up: a burst of 100 readers costs the chain at most two block-number reads.
`SharedRun` (the sharing) is tested on its own; then a `LiveView` in this process follows a
real sentinel's chain through a proxy that counts the chain's requests; then a real sentinel
and SN node answer REST reads right after each transaction sent through the SN node.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import requests
from aiohttp import web
from eth_account import Account
from web3 import Web3
from web3.providers.rpc import HTTPProvider

from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_network.admission import sign_join
from swarm_network.chain import SwarmContract, connect
from swarm_network.live.shared_run import SharedRun
from swarm_network.live.view import LiveView
from swarm_network.rest import views

TIMEOUT = 30
BURST = 100
MERGED = "cc" * 32

# ------------------------------------------------------------------ SharedRun on its own


class Job:
    """A job that records when each run began and ended, on one counter shared with callers."""

    def __init__(self, seq: Iterator[int], *, fail_first: bool = False) -> None:
        self.seq = seq
        self.begun: list[int] = []
        self.finished: list[int] = []  # the begin mark of each run that ended
        self.running = False
        self.fail_first = fail_first

    async def __call__(self) -> None:
        assert not self.running, "two runs at once"
        self.running = True
        mark = next(self.seq)
        self.begun.append(mark)
        try:
            await asyncio.sleep(random.uniform(0.001, 0.01))
            if self.fail_first and len(self.begun) == 1:
                raise RuntimeError("first run fails")
        finally:
            self.running = False
            self.finished.append(mark)


def test_a_burst_of_callers_shares_at_most_two_runs() -> None:
    async def main() -> int:
        job = Job(itertools.count())
        shared = SharedRun(job)
        first = asyncio.create_task(shared())
        await asyncio.sleep(0)  # the first run is going
        await asyncio.gather(first, *(shared() for _ in range(BURST - 1)))
        return len(job.begun)

    assert asyncio.run(main()) == 2


def test_every_caller_waits_for_a_run_that_began_after_it_called() -> None:
    async def main() -> tuple[list[str], int]:
        seq = itertools.count()
        job = Job(seq)
        shared = SharedRun(job)
        wrong: list[str] = []

        async def caller(i: int) -> None:
            await asyncio.sleep(random.uniform(0, 0.2))
            called = next(seq)
            await shared()
            if not any(b > called for b in job.finished):
                wrong.append(f"caller {i} (mark {called}): runs that ended {job.finished}")

        random.seed(7)
        await asyncio.gather(*(caller(i) for i in range(300)))
        return wrong, len(job.begun)

    wrong, runs = asyncio.run(main())
    assert wrong == []
    assert runs < 300 / 2  # callers did share runs


def test_a_runs_error_goes_to_its_callers_and_the_next_run_is_fresh() -> None:
    async def main() -> tuple[Any, Any, int]:
        job = Job(itertools.count(), fail_first=True)
        shared = SharedRun(job)
        first = asyncio.create_task(shared())
        await asyncio.sleep(0)
        second = asyncio.create_task(shared())  # came during the failing run: waits for the next
        results = await asyncio.gather(first, second, return_exceptions=True)
        return results[0], results[1], len(job.begun)

    first, second, runs = asyncio.run(main())
    assert isinstance(first, RuntimeError) and second is None and runs == 2


def test_a_caller_that_gives_up_leaves_the_run_to_the_others() -> None:
    async def main() -> tuple[bool, list[int]]:
        job = Job(itertools.count())
        shared = SharedRun(job)
        quitter = asyncio.create_task(shared())
        await asyncio.sleep(0)  # its run is going
        quitter.cancel()
        await shared()  # came during that run: waits for the next, after the first ended
        with contextlib.suppress(asyncio.CancelledError):
            await quitter
        return quitter.cancelled(), job.finished

    cancelled, finished = asyncio.run(main())
    assert cancelled and finished == [0, 1]  # the abandoned run went on to its end


# ------------------------------------------------------------------ a real chain


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSwarm]:
    swarm = LocalSwarm(work_dir=tmp_path_factory.mktemp("fresh-swarm"))
    try:
        swarm.start_sentinel()
        swarm.start_sn()
        yield swarm
    finally:
        swarm.stop()


def join_body(swarm: LocalSwarm, account: Any) -> dict[str, str]:
    file_url = "http://127.0.0.1:9"
    return {
        "address": account.address,
        "role": "learner",
        "file_url": file_url,
        "signature": sign_join(account, "learner", file_url),
        "token": swarm.join_token,
    }


class CountingProxy:
    """Passes JSON-RPC to the chain and counts the methods asked for (batches too)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.methods: Counter[str] = Counter()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        parsed = json.loads(body)
        for call in parsed if isinstance(parsed, list) else [parsed]:
            self.methods[call.get("method", "?")] += 1
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.upstream, data=body, headers={"Content-Type": "application/json"}
            ) as resp,
        ):
            return web.Response(
                body=await resp.read(), status=resp.status, content_type="application/json"
            )


def test_a_burst_of_reads_costs_the_chain_one_or_two_head_reads_and_sees_new_blocks(
    swarm: LocalSwarm,
) -> None:
    assert swarm.sentinel_rpc and swarm.sentinel_rest
    contract_address = requests.get(f"{swarm.sentinel_rest}/v1/chain", timeout=TIMEOUT).json()[
        "contract_address"
    ]

    async def main() -> None:
        proxy = CountingProxy(swarm.sentinel_rpc)
        app = web.Application()
        app.router.add_post("/", proxy.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        contract = SwarmContract(w3=connect(f"http://127.0.0.1:{port}"), address=contract_address)
        view = LiveView(contract=contract, sentinel_url=None)  # not started: no poll loop
        try:
            await view.current()  # the first read of the chain
            proxy.methods.clear()
            await asyncio.gather(*(view.current() for _ in range(BURST)))
            assert proxy.methods["eth_blockNumber"] <= 2, proxy.methods
            assert proxy.methods["eth_getLogs"] == 0, proxy.methods  # no new block: no more
            for _ in range(3):  # a write (an enrolment), then a read: it is there
                account = Account.create()
                async with aiohttp.ClientSession() as session:
                    body = join_body(swarm, account)
                    async with session.post(f"{swarm.sentinel_rest}/v1/join", json=body) as r:
                        assert r.status == 200, await r.text()
                proxy.methods.clear()
                states = await asyncio.gather(*(view.current() for _ in range(BURST)))
                assert all(s.node_role(account.address) == "learner" for s in states)
                assert proxy.methods["eth_blockNumber"] <= 2, proxy.methods
                assert proxy.methods["eth_getLogs"] == 1, proxy.methods
        finally:
            await view.stop()
            await runner.cleanup()

    asyncio.run(main())


def test_a_read_right_after_a_transaction_through_an_sn_node_sees_it(
    swarm: LocalSwarm,
) -> None:
    """No waiting between write and read: every read, on the SN node that passed the
    transaction and on the sentinel, has the transaction's block."""
    assert swarm.sn_rest and swarm.sentinel_rest
    account, idle = Account.create(), Account.create()  # idle never trains: the end is the
    for who in (idle, account):  # chain's (nobody left to run a step), not "all finished"
        body = join_body(swarm, who)
        r = requests.post(f"{swarm.sn_rest}/v1/join", json=body, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
    nodes = [swarm.sn_rest, swarm.sentinel_rest]
    for url in nodes:
        nodes_doc = requests.get(f"{url}/v1/nodes", timeout=TIMEOUT).json()
        assert account.address in [n["address"] for n in nodes_doc["nodes"]], url
    w3 = Web3(HTTPProvider(f"{swarm.sn_rest}/rpc", request_kwargs={"timeout": TIMEOUT}))
    contract_address = requests.get(f"{swarm.sn_rest}/v1/chain", timeout=TIMEOUT).json()[
        "contract_address"
    ]
    learner = SwarmContract(w3=w3, address=contract_address, account=account)
    learner.configure_training(
        min_peers=1, grace_seconds=0, merge_method="mean", merge_params="{}", max_staleness=0
    )
    for url in nodes:
        training = requests.get(f"{url}/v1/training", timeout=TIMEOUT).json()
        assert training["configured"] is True and training["min_peers"] == 1, (url, training)
    for k in range(5):  # one learner at work, min_peers 1: each step closes with it
        step = learner.current_step()
        base = "00" * 32 if step == 0 else MERGED  # a check-in reports the step before's merge
        head = learner.check_in(
            step=step, weight_hash=f"{k + 1:02x}" * 32, weightage=1, base_hash=base
        )
        if not learner.step(step).closed:  # the learners enrolled above are awaited
            learner.close_step(step)  # grace 0: it may close at once
            head = learner.block_number()
        for url in nodes:
            chain = requests.get(f"{url}/v1/chain", timeout=TIMEOUT).json()
            assert chain["block_number"] >= head, (url, chain, head)
            training = requests.get(f"{url}/v1/training", timeout=TIMEOUT).json()
            assert training["current_step"] == step + 1, (url, k, training)
            doc = requests.get(f"{url}/v1/steps/{step}", timeout=TIMEOUT).json()
            assert doc["closed"] is True and doc["participants"][0]["address"] == account.address
    # The end, read at once: the view says what a direct read of the chain says.
    last = learner.current_step() - 1
    learner.report_merge(last, MERGED)
    learner.finish()
    final = learner.final_model()
    assert final.ended
    summary, records = learner.summary(), learner.nodes()
    assert summary.training_ended
    for url in nodes:
        training = requests.get(f"{url}/v1/training", timeout=TIMEOUT).json()
        assert training == views.training_json(summary, records), url
        assert training["state"] == "done", url
        events = read_stream(url, "ended")
        assert events[-1]["data"]["open_step"] == final.open_step, url


def read_stream(url: str, wanted: str) -> list[dict[str, Any]]:
    """The stream's recent events (replayed from the start) up to the first of type `wanted`."""
    events: list[dict[str, Any]] = []
    headers = {"Last-Event-ID": "0"}
    with requests.get(f"{url}/v1/stream", headers=headers, stream=True, timeout=TIMEOUT) as r:
        current: dict[str, Any] = {}
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and "event" in current:
                events.append(current)
                if current["event"] == wanted:
                    return events
                current = {}
    raise AssertionError(f"no {wanted} event in {[e['event'] for e in events]}")
