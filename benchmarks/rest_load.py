"""REST load on an SN node while a swarm trains: N requests, C at a time, spread over
/v1/training, /v1/nodes and /v1/steps (what a dashboard or a polling client asks), printing
requests per second and latency percentiles.

Starts the digits demo swarm (sentinel + SN + 3 learners) and loads the SN node once the
training has begun, so that the chain is as busy as in real use. To compare with a checkout
that read the chain per request, run the same file with that checkout on PYTHONPATH.

Usage: python benchmarks/rest_load.py [--requests 500] [--concurrency 40] [--epochs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from swarm_learning.demo.digits_swarm import TRAIN_MODULE, prepare_learner_data
from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_network.backoff import Backoff
from swarm_network.errors import ChainError
from swarm_network.http_json import get_json

PATHS = ("/v1/training", "/v1/nodes", "/v1/steps?limit=10")
LEARNERS = ("learner1", "learner2", "learner3")
START_TIMEOUT_S = 180.0
REQUEST_TIMEOUT_S = 120.0


async def load(base: str, requests: int, concurrency: int) -> tuple[float, list[float], int]:
    """Wall time, each request's latency, and how many failed."""
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(base + PATHS[i % len(PATHS)])
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def client() -> None:
            nonlocal failures
            while not queue.empty():
                url = queue.get_nowait()
                started = time.perf_counter()
                try:
                    async with session.get(url) as response:
                        await response.read()
                        failures += response.status != 200
                except (aiohttp.ClientError, TimeoutError):
                    failures += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, failures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_until_training(sn_url: str) -> None:
    for _ in Backoff(first_s=0.5, max_s=0.5, deadline_s=START_TIMEOUT_S).sleeps():
        try:
            if get_json(f"{sn_url}/v1/training")["current_step"] >= 1:
                return
        except ChainError:
            continue  # not up yet
    raise SystemExit("the swarm did not start training in time")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=30, help="long enough to outlast the load")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, LocalSwarm(work_dir=Path(tmp)) as swarm:
        prepare_learner_data(swarm, list(LEARNERS), seed=0)
        swarm.start_sentinel()
        sn_url = swarm.start_sn()
        for i, name in enumerate(LEARNERS):
            target = swarm.sentinel_rest if i == 0 else sn_url
            assert target is not None
            swarm.start_learner(name, target, TRAIN_MODULE, ["--epochs", str(args.epochs)])
        wait_until_training(sn_url)
        wall, latencies, failures = asyncio.run(load(sn_url, args.requests, args.concurrency))
    print(
        f"{args.requests} requests, {args.concurrency} at a time, during training: "
        f"{wall:.1f} s, {args.requests / wall:.0f} requests/s, latency median "
        f"{statistics.median(latencies) * 1000:.0f} ms, p90 {percentile(latencies, 0.9) * 1000:.0f}"
        f" ms, p99 {percentile(latencies, 0.99) * 1000:.0f} ms, {failures} failed"
    )
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
