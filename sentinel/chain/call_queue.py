"""eth_call and eth_estimateGas run one at a time, taken from their clients in turn.

Why: a call may take up to its deadline (`call_bounds`), so in one queue a client sending
calls by the hundred would hold everybody else's calls (a learner's dry run before each
check-in among them) for minutes. Here every client has its own queue, and the calls thread
takes the next call from the next client in turn: a client's call waits for at most one call
of every other busy client.

A client is the address the request came from and, within it, the client an SN node's `/rpc`
proxy forwarded for (`X-Forwarded-For`): learners behind one SN node are served in turn, and
an address gets its turn among the others however many clients it claims to forward for, so
forging that header only splits the sender's own share. Each client and each address may have
only so many calls waiting; more are refused at once (EIP-1474's -32005, "limit exceeded").
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable, Sized
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

MAX_CALLS_PER_CLIENT = 8
MAX_CALLS_PER_ADDRESS = 256


@dataclass(frozen=True)
class CallClient:
    """Who sent a call: the peer address and, behind a proxy, whom it forwarded for."""

    address: str
    forwarded_for: str = ""


class CallsRefused(Exception):
    """The client already has as many calls waiting as it may."""


Queued = TypeVar("Queued", bound=Sized)


class _Turns(Generic[Queued]):
    """What each key has waiting, served key by key in turn.

    The key just served goes to the back only when the next turn begins, so a key that comes
    in meanwhile (while that key's call runs) is served before it again.
    """

    def __init__(self, new: Callable[[], Queued]) -> None:
        self._new = new
        self._waiting: OrderedDict[str, Queued] = OrderedDict()
        self._served: tuple[str, Queued] | None = None

    def __len__(self) -> int:
        """How many keys have something waiting."""
        served = self._served is not None and len(self._served[1]) > 0
        return len(self._waiting) + served

    def of(self, key: str) -> Queued:
        """What `key` has waiting (new and empty if nothing), to add to."""
        if self._served is not None and self._served[0] == key:
            return self._served[1]
        if key not in self._waiting:
            self._waiting[key] = self._new()
        return self._waiting[key]

    def next_turn(self) -> Queued | None:
        """What the key whose turn it is has waiting; None if no key has anything."""
        if self._served is not None:
            key, queued = self._served
            self._served = None
            if len(queued):
                self._waiting[key] = queued
        if not self._waiting:
            return None
        self._served = self._waiting.popitem(last=False)
        return self._served[1]


@dataclass
class _Job:
    client: CallClient
    run: Callable[[], Any]
    answer: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class CallQueue:
    """Fair turns over clients for work run one at a time in `executor` (event-loop side).

    `start()` and `stop()` bracket its life (the RPC app's cleanup context does that).
    """

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        # address -> forwarded_for -> that client's waiting jobs, both levels served in turn.
        self._waiting: _Turns[_Turns[deque[_Job]]] = _Turns(lambda: _Turns(deque))
        self._per_client: dict[CallClient, int] = {}
        self._per_address: dict[str, int] = {}
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    async def run(self, client: CallClient, work: Callable[[], Any]) -> Any:
        """`work()`'s result, run in its turn; `CallsRefused` if the client has too many
        calls waiting."""
        if (
            self._per_client.get(client, 0) >= MAX_CALLS_PER_CLIENT
            or self._per_address.get(client.address, 0) >= MAX_CALLS_PER_ADDRESS
        ):
            raise CallsRefused(
                f"limit exceeded: at most {MAX_CALLS_PER_CLIENT} calls of one client at a time"
            )
        job = _Job(client=client, run=work)
        self._count(client, +1)
        self._waiting.of(client.address).of(client.forwarded_for).append(job)
        self._wakeup.set()
        try:
            return await job.answer
        finally:
            self._count(client, -1)

    def _count(self, client: CallClient, delta: int) -> None:
        for counts, key in ((self._per_client, client), (self._per_address, client.address)):
            counts[key] = counts.get(key, 0) + delta
            if counts[key] == 0:
                del counts[key]

    def _next_job(self) -> _Job | None:
        """The next job of the next client of the next address, in turn."""
        while (clients := self._waiting.next_turn()) is not None:
            jobs = clients.next_turn()
            if jobs is None:
                continue
            job = jobs.popleft()
            if not job.answer.done():  # not abandoned by its client meanwhile
                return job
        return None

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = self._next_job()
            if job is None:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            try:
                result = await loop.run_in_executor(self._executor, job.run)
            except Exception as exc:  # the work's own error goes back to its caller
                if not job.answer.done():
                    job.answer.set_exception(exc)
            else:
                if not job.answer.done():
                    job.answer.set_result(result)
