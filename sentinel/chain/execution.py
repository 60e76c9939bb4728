"""eth_call and eth_estimateGas: a call request executed on a throw-away state.

Why not eth-tester's: it needs `from`, drops the raw revert data, and its gas estimate
bisects over the whole block gas limit (about 16 executions). Here a call runs on the block
the next transaction would land in, with zero base fee (so a caller without funds can read),
reverts come back with their data (code 3, as geth), and estimating takes 3 or 4 executions.
Each request is bounded by a gas cap and a deadline (`call_bounds`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from eth.abc import BlockHeaderAPI, ComputationAPI, MiningChainAPI, SignedTransactionAPI, StateAPI
from eth.exceptions import Revert, VMError
from eth.vm.spoof import SpoofTransaction
from eth_utils import ValidationError

from sentinel.chain import call_bounds
from sentinel.chain.rpc_format import SERVER_ERROR, RpcError, revert_error
from sentinel.chain.rpc_params import CallRequest

ZERO_ADDRESS = b"\x00" * 20
# eth_estimateGas answers at most this much above the least gas that works.
GAS_ESTIMATE_TOLERANCE = 1000
CALL_STIPEND = 2300


def call(
    chain: MiningChainAPI, header: BlockHeaderAPI, request: CallRequest, *, timeout_s: float
) -> bytes:
    """The output of `request` run on top of the block `header`; RpcError if it fails."""
    with _next_block_state(chain, header, timeout_s) as state:
        computation = _run_transaction(state, _spoof(chain, request, state))
    _raise_for_computation(computation)
    return computation.output


def estimate_gas(
    chain: MiningChainAPI, header: BlockHeaderAPI, request: CallRequest, *, timeout_s: float
) -> int:
    """The gas `request` needs on top of the block `header`; RpcError if it always fails.

    The search runs up to the gas the request allows (`call_bounds.capped_gas`), all of its
    executions within one deadline.
    """
    with _next_block_state(chain, header, timeout_s) as state:
        tx = _spoof(chain, request, state)
        try:
            return _gas_needed(state, tx)
        except Revert as exc:
            raise revert_error(_revert_bytes(exc)) from None
        except VMError as exc:
            raise RpcError(
                SERVER_ERROR, f"gas required exceeds allowance ({tx.gas}): {exc!r}"
            ) from None
        except ValidationError as exc:
            raise RpcError(SERVER_ERROR, f"insufficient funds for transfer: {exc}") from None


@contextmanager
def _next_block_state(
    chain: MiningChainAPI, header: BlockHeaderAPI, timeout_s: float
) -> Iterator[StateAPI]:
    """A throw-away state on top of the given block, with zero base fee, bounded in time.

    It is the block the next transaction would land in (number, timestamp), so a call
    predicts what a transaction sent now would do. Zero base fee plus zero gas price lets
    a caller without balance (or without `from`) read and estimate, as on geth.
    """
    with (
        call_bounds.deadline(timeout_s) as deadline,
        chain.get_vm(at_header=header).in_costless_state() as state,
    ):
        call_bounds.bound_execution(state, deadline)
        yield state


def _spoof(chain: MiningChainAPI, request: CallRequest, state: StateAPI) -> SignedTransactionAPI:
    """The request as an unsigned transaction from its `from` (or the zero address), with
    the gas it asks for within the cap (as geth: more is capped, not refused)."""
    sender = request.sender or ZERO_ADDRESS
    unsigned = chain.get_transaction_builder().create_unsigned_transaction(
        nonce=state.get_nonce(sender),
        gas_price=0,
        gas=call_bounds.capped_gas(request.gas, state.gas_limit),
        to=request.to or b"",
        value=request.value,
        data=request.data,
    )
    return SpoofTransaction(unsigned, from_=sender)


def _execute_with_gas(state: StateAPI, tx: SignedTransactionAPI, gas: int) -> ComputationAPI:
    """Run `tx` with the given gas limit and undo its effects."""
    snapshot = state.snapshot()
    try:
        return state.apply_transaction(SpoofTransaction(tx, gas=gas))
    finally:
        state.revert(snapshot)


def _gas_needed(state: StateAPI, tx: SignedTransactionAPI) -> int:
    """The least gas (within GAS_ESTIMATE_TOLERANCE) with which `tx` succeeds.

    py-evm's own estimator bisects from the intrinsic gas to the block gas limit: about 16
    executions. Like geth, we run once with all the gas `tx` allows, learn the gas actually
    burnt, and search only just above it (the 63/64 call rule and the SSTORE stipend can
    require a little more than was burnt): usually 3 or 4 executions. Raises the VMError of a
    call that fails even with all that gas (a Revert carries the revert data).
    """
    intrinsic = tx.intrinsic_gas
    if not _execute_with_gas(state, tx, intrinsic).is_error:
        return intrinsic
    cap = tx.gas
    full = _execute_with_gas(state, tx, cap)
    if full.is_error:
        raise full.error
    low = intrinsic + full.get_gas_used() - 1  # less than what was burnt cannot succeed
    high = cap
    optimistic = min(cap, (low + 1 + CALL_STIPEND) * 64 // 63)
    if _execute_with_gas(state, tx, optimistic).is_error:
        low = optimistic
    else:
        high = optimistic
    while high - low > GAS_ESTIMATE_TOLERANCE:
        middle = (low + high) // 2
        if _execute_with_gas(state, tx, middle).is_error:
            low = middle
        else:
            high = middle
    return high


def _run_transaction(state: StateAPI, tx: SignedTransactionAPI) -> ComputationAPI:
    try:
        return state.apply_transaction(tx)
    except ValidationError as exc:
        raise RpcError(SERVER_ERROR, f"insufficient funds for transfer: {exc}") from None


def _revert_bytes(error: Revert) -> bytes:
    data = error.args[0] if error.args else b""
    return data if isinstance(data, bytes) else b""


def _raise_for_computation(computation: ComputationAPI) -> None:
    """Turn a failed execution into geth's answer: code 3 for a revert, -32000 otherwise."""
    if not computation.is_error:
        return
    error = computation.error
    if isinstance(error, Revert):
        raise revert_error(computation.output)
    raise RpcError(SERVER_ERROR, f"execution failed: {type(error).__name__}: {error}")
