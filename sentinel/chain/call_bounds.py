"""How far one eth_call or eth_estimateGas may go: a gas cap and a deadline.

Why: py-evm runs about a million cheap opcodes a second here, so an endless loop called with
the block's 30M gas ran for 9 s, and anyone may send one (see "The chain's JSON-RPC lanes" in
docs/ARCHITECTURE.md). geth bounds calls the same two ways (RPCGasCap, RPCEVMTimeout).

- The gas cap (`CALL_GAS_CAP`): a call asking for more gas, or for none, runs with the cap, as
  on geth. It is no time bound on its own: deploying our contract needs 2.4M gas (and its
  estimate at least that), while a jump loop burns 1M gas in about a second here.
- The deadline (`CALL_TIMEOUT_S` of CPU time, within `CALL_WALL_LIMIT_S`: `CallDeadline`):
  py-evm has no timeout hook, so every frame of the call runs with a computation class of its
  own whose jumps, calls and creates first check the deadline. Every loop jumps, and code
  without jumps is at most 48 KiB long, so no frame runs long past the deadline. The check
  costs one clock read per jump (`benchmarks/rpc_stall.py` measures the overhead).
- Slow precompiles: py-evm computes BLAKE2 and the elliptic curves in pure Python, up to
  about 50 us per unit of gas (`benchmarks/precompile_speed.py`), and one such run cannot be
  interrupted. A precompile is charged its gas before it computes; a charge that, at that
  rate, would overrun the deadline aborts the call right there.

A call past its deadline is aborted with `CallTimeout`, which is not a py-evm `VMError`: no
frame catches it, so the whole call stops at once, and `deadline` answers it as geth does.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from eth.abc import ComputationAPI, StateAPI

from sentinel.chain.rpc_format import SERVER_ERROR, RpcError

CALL_GAS_CAP = 5_000_000  # twice what deploying the SwarmLearning contract needs
CALL_TIMEOUT_S = 1.0  # of CPU time; a check-in's dry run takes 4 ms, a deploy estimate 20-120
CALL_WALL_LIMIT_S = 5.0  # a call's wall-clock time on a busy machine (geth's RPCEVMTimeout)

# The opcodes after which a frame can run on: jumps (every loop) and new frames.
_CHECKED_OPCODES = frozenset(
    {
        0x56,  # JUMP
        0x57,  # JUMPI
        0xF0,  # CREATE
        0xF1,  # CALL
        0xF2,  # CALLCODE
        0xF4,  # DELEGATECALL
        0xF5,  # CREATE2
        0xFA,  # STATICCALL
    }
)
# py-evm's pure-Python precompiles: alt_bn128 add, mul, pairing; BLAKE2F; the BLS12-381 seven.
_SLOW_PRECOMPILES = frozenset(
    address.to_bytes(20, "big") for address in (0x06, 0x07, 0x08, 0x09, *range(0x0B, 0x12))
)
# The slowest of them measured here (BLS12-381 pairing: 40 us/gas idle, 80 with the machine
# busy); the others are faster, so this errs on the side of aborting.
SLOW_PRECOMPILE_SECONDS_PER_GAS = 50e-6


class CallTimeout(Exception):
    """A call ran past its deadline (deliberately not a `VMError`: py-evm must not catch it)."""


class CallDeadline:
    """The budget of one call request: `timeout_s` of its thread's CPU time, and never more
    than `CALL_WALL_LIMIT_S` of wall-clock time.

    CPU time rather than wall-clock time, so that on a busy machine (a CPU shared with other
    processes, other threads holding the GIL) an honest call is not cut short for time it did
    not run; the wall-clock limit still bounds how long a call holds its lane. Reading the
    thread's CPU clock is a system call, 10x dearer than the monotonic clock, so each check
    reads the monotonic clock, and only once the wall-clock deadline has passed the CPU
    clock, moving the deadline on by the CPU time still left (up to the limit).
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._cpu_started = time.thread_time()
        now = time.monotonic()
        self._at = now + timeout_s
        self._limit = now + max(timeout_s, CALL_WALL_LIMIT_S)

    def check(self, seconds_ahead: float = 0.0) -> None:
        """Raise `CallTimeout` if the budget is spent, or would be `seconds_ahead` on."""
        now = time.monotonic()
        if now + seconds_ahead <= self._at:
            return
        cpu_left = self.timeout_s - (time.thread_time() - self._cpu_started)
        if cpu_left < seconds_ahead or cpu_left <= 0 or now + seconds_ahead > self._limit:
            raise CallTimeout(f"execution aborted (timeout = {self.timeout_s:g}s)")
        self._at = min(now + cpu_left, self._limit)


@contextmanager
def deadline(timeout_s: float) -> Iterator[CallDeadline]:
    """A deadline for the block's calls; a `CallTimeout` inside becomes geth's answer."""
    try:
        yield CallDeadline(timeout_s)
    except CallTimeout as exc:
        raise RpcError(SERVER_ERROR, str(exc)) from None


def capped_gas(requested: int | None, block_gas_limit: int) -> int:
    """The gas a call runs with: what it asks for, at most the cap and the block's limit."""
    return min(requested or CALL_GAS_CAP, CALL_GAS_CAP, block_gas_limit)


def bound_execution(state: StateAPI, call_deadline: CallDeadline) -> None:
    """Make every frame that `state` runs from now on check `call_deadline`.

    `state` must be a throw-away state (a call's): it gets the bounded computation class of
    its fork and the deadline, as instance attributes (the class shadows the fork's own).
    """
    state.computation_class = _bounded_class(state.computation_class)
    state.call_deadline = call_deadline  # type: ignore[attr-defined]  # read by the checks


@functools.cache
def _bounded_class(base: type[ComputationAPI]) -> type[ComputationAPI]:
    """`base` with its jumps, calls, creates and precompiles checking the state's deadline
    (made once per fork: building it costs more than a short call)."""
    opcodes = {
        value: _checked_opcode(opcode) if value in _CHECKED_OPCODES else opcode
        for value, opcode in base.opcodes.items()
    }
    precompiles = {
        address: _checked_precompile(precompile, slow=address in _SLOW_PRECOMPILES)
        for address, precompile in base.get_precompiles().items()
    }
    attributes = {"opcodes": opcodes, "_precompiles": precompiles}
    return type(f"Bounded{base.__name__}", (base,), attributes)


def _checked_opcode(opcode: Any) -> Callable[..., None]:
    def checked(computation: Any) -> None:
        computation.state.call_deadline.check()
        opcode(computation=computation)

    checked.__wrapped__ = opcode  # type: ignore[attr-defined]  # py-evm's debug log reads it
    return checked


def _checked_precompile(
    precompile: Callable[[ComputationAPI], Any], *, slow: bool
) -> Callable[[ComputationAPI], Any]:
    def checked(computation: Any) -> Any:
        call_deadline: CallDeadline = computation.state.call_deadline
        call_deadline.check()
        return precompile(_ChargeChecked(computation, call_deadline) if slow else computation)

    return checked


class _ChargeChecked:
    """A computation as a slow precompile sees it: a gas charge that would take the run past
    the deadline aborts it before the precompile computes."""

    def __init__(self, computation: ComputationAPI, call_deadline: CallDeadline) -> None:
        object.__setattr__(self, "_computation", computation)
        object.__setattr__(self, "_deadline", call_deadline)

    def consume_gas(self, amount: int, reason: str) -> None:
        self._deadline.check(amount * SLOW_PRECOMPILE_SECONDS_PER_GAS)
        self._computation.consume_gas(amount, reason)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._computation, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._computation, name, value)
