"""Block timestamps that follow the wall clock, also in a burst of transactions.

The sentinel mines one block per transaction, as soon as it arrives. py-evm wants each block
strictly later than its parent, so ten transactions in one second used to be stamped ten
seconds apart: under load chain time ran ahead of the wall clock by as many seconds as there
were blocks, and every deadline a contract counts in `block.timestamp` (a pipeline task's
timeout, a learner's grace period) passed that much early. Blocks in the same second now carry
the same timestamp; time on this chain never goes backwards and never runs ahead.
"""

from __future__ import annotations

import time

from eth.abc import BlockHeaderAPI, MiningChainAPI, VirtualMachineAPI


def _same_second_vm(vm_class: type[VirtualMachineAPI]) -> type[VirtualMachineAPI]:
    """`vm_class`, except that a header may carry its parent's timestamp, and a new header
    (the pending block; the block an `eth_call` runs in) is stamped as the sentinel mines:
    py-evm's parent + 1 would let a dry run pass a deadline the mined transaction misses."""
    create_from_parent = vm_class.create_header_from_parent

    def create_header_from_parent(parent_header, **header_params):  # type: ignore[no-untyped-def]
        if parent_header is not None and "timestamp" not in header_params:
            header_params["timestamp"] = next_block_timestamp(parent_header.timestamp)
        return create_from_parent(parent_header, **header_params)

    def validate_header(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:  # type: ignore[no-untyped-def]
        if parent_header is not None and header.timestamp == parent_header.timestamp:
            # py-evm's checks, for a header one second later: all else is checked as before
            # (an earlier timestamp still fails, it is at most the parent's after this).
            header = header.copy(timestamp=header.timestamp + 1)
        super(same_second, cls).validate_header(header, parent_header)

    same_second = type(
        f"SameSecond{vm_class.__name__}",
        (vm_class,),
        {
            "validate_header": classmethod(validate_header),
            "create_header_from_parent": staticmethod(create_header_from_parent),
            "__module__": __name__,
        },
    )
    return same_second


def allow_same_second_blocks(chain: MiningChainAPI) -> None:
    """Let `chain` mine blocks in the second of their parent.

    eth-tester makes a new chain class for each chain it sets up, so changing the class's VMs
    changes this chain only.
    """
    chain_class = type(chain)
    chain_class.vm_configuration = tuple(
        (start, _same_second_vm(vm_class)) for start, vm_class in chain_class.vm_configuration
    )


def next_block_timestamp(parent_timestamp: int) -> int:
    """Now, in whole seconds; the parent's time when the wall clock went back."""
    return max(int(time.time()), parent_timestamp)
