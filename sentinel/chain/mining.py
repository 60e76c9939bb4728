"""Mining the pending block with a `mix_hash` chosen by the caller.

Live mining draws a fresh random `mix_hash` (it stands for prevrandao); rebuilding a journaled
block must reproduce the recorded one, or the block hash differs. One function, so that both
mine exactly the same way (`sentinel.chain.core` live, `sentinel.chain.replay` on start).
"""

from __future__ import annotations

from eth.abc import BlockAPI, MiningChainAPI
from eth.vm.forks.cancun import get_total_blob_gas


def mine_pending(chain: MiningChainAPI, *, mix_hash: bytes, coinbase: bytes) -> BlockAPI:
    """Mine `chain`'s pending block exactly as eth-tester's `mine_blocks` does, except that
    the caller chooses the `mix_hash` (eth-tester draws one, which a replay could not redo)."""
    pending = chain.get_block().transactions
    return chain.mine_block(
        coinbase=coinbase,
        mix_hash=mix_hash,
        blob_gas_used=sum(get_total_blob_gas(tx) for tx in pending),
    )
