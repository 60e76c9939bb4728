"""The order in which the calls thread takes calls: clients in turn, by address first, then by
whom a proxy forwards for; a newcomer goes before the client whose call is running.

Real `CallQueue` over a real one-thread executor; the first call blocks until the test has
queued the others, so the order does not depend on timing.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from sentinel.chain.call_queue import MAX_CALLS_PER_CLIENT, CallClient, CallQueue, CallsRefused


def run_in_order(submissions: list[tuple[CallClient, str]]) -> list[str]:
    """Queue one call per submission (the first one blocks the thread until all are queued)
    and return the labels in the order the calls ran."""
    ran: list[str] = []
    release = threading.Event()

    def work(label: str, block: bool) -> str:
        if block:
            release.wait(timeout=30)
        ran.append(label)
        return label

    async def main() -> list[str]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            queue = CallQueue(executor)
            queue.start()
            try:
                tasks = []
                for index, (client, label) in enumerate(submissions):
                    job = lambda label=label, block=index == 0: work(label, block)  # noqa: E731
                    tasks.append(asyncio.create_task(queue.run(client, job)))
                    await asyncio.sleep(0.01)  # the first call is running before the others
                release.set()
                assert await asyncio.gather(*tasks) == [label for _, label in submissions]
            finally:
                await queue.stop()
        return ran

    return asyncio.run(main())


def test_a_newcomer_goes_before_the_flooding_client() -> None:
    flooder, newcomer = CallClient("10.0.0.1"), CallClient("10.0.0.2")
    order = run_in_order([(flooder, "f1"), (flooder, "f2"), (flooder, "f3"), (newcomer, "n1")])
    assert order == ["f1", "n1", "f2", "f3"]


def test_addresses_take_turns_and_clients_within_them() -> None:
    proxy_a = CallClient("10.0.0.1", forwarded_for="192.0.2.1")
    proxy_b = CallClient("10.0.0.1", forwarded_for="192.0.2.2")
    direct = CallClient("10.0.0.3")
    submissions = [
        (proxy_a, "a1"),
        (proxy_a, "a2"),
        (proxy_a, "a3"),
        (proxy_b, "b1"),
        (proxy_b, "b2"),
        (direct, "d1"),
        (direct, "d2"),
    ]
    # While a1 runs, the direct client and b come in: each goes before a again.
    assert run_in_order(submissions) == ["a1", "d1", "b1", "d2", "a2", "b2", "a3"]


def test_a_client_may_queue_only_so_many_calls() -> None:
    client = CallClient("10.0.0.1")
    release = threading.Event()

    async def main() -> None:
        with ThreadPoolExecutor(max_workers=1) as executor:
            queue = CallQueue(executor)
            queue.start()
            try:
                tasks = [
                    asyncio.create_task(queue.run(client, lambda: release.wait(timeout=30)))
                    for _ in range(MAX_CALLS_PER_CLIENT)
                ]
                await asyncio.sleep(0.05)
                with pytest.raises(CallsRefused, match="limit exceeded"):
                    await queue.run(client, lambda: "one too many")
                other = asyncio.create_task(queue.run(CallClient("10.0.0.2"), lambda: "other"))
                release.set()
                assert await asyncio.gather(*tasks) == [True] * MAX_CALLS_PER_CLIENT
                assert await other == "other"
                assert await queue.run(client, lambda: "again") == "again"
            finally:
                release.set()
                await queue.stop()

    asyncio.run(main())
