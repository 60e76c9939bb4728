"""Answers of eth_call kept for the block they ran on, so that the same read asked again on
the same state is answered without running the EVM again.

Why: after a step closes every learner reads the step's contributions and the previous
step's record, and each live view and archive reads the same records, all on one head; on
the embedded chain each read is a py-evm execution on the chain's one call thread, queued
behind the others (docs/ARCHITECTURE.md, "Speed").

Exact, not approximate: a call runs on a new block on top of `header`, stamped
`next_block_timestamp(header.timestamp)` (`block_time`), with zero gas price; its output is a
function of that header, that timestamp and the request alone. Only successful outputs are
kept (a revert or a timeout is run again). One lock, so the READ and CALL lanes may share it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from eth.abc import BlockHeaderAPI

from sentinel.chain.block_time import next_block_timestamp
from sentinel.chain.rpc_params import CallRequest

#: Answers kept, newest used last out: a few heads' worth of every reader's calls.
CACHED_CALLS = 512

CallKey = tuple[bytes, int, CallRequest]


class CallCache:
    def __init__(self, size: int = CACHED_CALLS) -> None:
        self._size = size
        self._answers: OrderedDict[CallKey, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def output(
        self, header: BlockHeaderAPI, request: CallRequest, run: Callable[[], bytes]
    ) -> bytes:
        """The output of `request` on top of `header`: kept, or `run()` (and then kept)."""
        key = (header.hash, next_block_timestamp(header.timestamp), request)
        with self._lock:
            kept = self._answers.get(key)
            if kept is not None:
                self._answers.move_to_end(key)
                self.hits += 1
                return kept
            self.misses += 1
        output = run()
        with self._lock:
            self._answers[key] = output
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)
        return output
