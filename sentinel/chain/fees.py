"""Fee suggestions and fee history, computed as geth does, so clients price transactions alike.

Why geth's rules: web3.py and ethers derive `maxFeePerGas` from `eth_feeHistory` and
`eth_maxPriorityFeePerGas`; answering as geth does keeps their transactions minable here
exactly as on any other Ethereum endpoint.
"""

from __future__ import annotations

from typing import Any

from eth.abc import BlockHeaderAPI, MiningChainAPI

from sentinel.chain.rpc_format import hex_quantity, reward_at_percentiles

# The tip we suggest (eth_maxPriorityFeePerGas); geth's and anvil's default suggestion.
SUGGESTED_PRIORITY_FEE = 10**9
# The most blocks one eth_feeHistory reports (geth's limit).
MAX_FEE_HISTORY_BLOCKS = 1024


def gas_price(chain: MiningChainAPI) -> int:
    """Legacy price suggestion: the next block's base fee plus the suggested tip (as geth)."""
    return chain.header.base_fee_per_gas + SUGGESTED_PRIORITY_FEE


def fee_history(
    chain: MiningChainAPI, count: int, newest: int, percentiles: list[float]
) -> dict[str, Any]:
    """eth_feeHistory's answer for the `count` blocks up to `newest` (a mined block).

    As geth: one more base fee than blocks (the next block's), and rewards only when
    percentiles are asked for.
    """
    count = min(count, MAX_FEE_HISTORY_BLOCKS)
    if count == 0:
        return {"oldestBlock": hex_quantity(0), "baseFeePerGas": [], "gasUsedRatio": []}
    oldest = max(0, newest - count + 1)
    headers = [
        chain.get_canonical_block_header_by_number(number) for number in range(oldest, newest + 1)
    ]
    base_fees = [h.base_fee_per_gas for h in headers] + [_next_base_fee(chain, newest)]
    result: dict[str, Any] = {
        "oldestBlock": hex_quantity(oldest),
        "baseFeePerGas": [hex_quantity(fee) for fee in base_fees],
        "gasUsedRatio": [h.gas_used / h.gas_limit for h in headers],
    }
    if percentiles:
        result["reward"] = [
            [hex_quantity(tip) for tip in _block_rewards(chain, h, percentiles)] for h in headers
        ]
    return result


def _next_base_fee(chain: MiningChainAPI, number: int) -> int:
    """The base fee of the block after `number`: the pending block's after the head."""
    if number >= chain.get_canonical_head().block_number:
        return chain.header.base_fee_per_gas
    return chain.get_canonical_block_header_by_number(number + 1).base_fee_per_gas


def _block_rewards(
    chain: MiningChainAPI, header: BlockHeaderAPI, percentiles: list[float]
) -> list[int]:
    """The effective tips at each percentile of the block's gas (geth's weighting)."""
    block = chain.get_canonical_block_by_number(header.block_number)
    receipts = block.get_receipts(chain.chaindb)
    base_fee = header.base_fee_per_gas
    tips_and_gas = []
    previous_cumulative = 0
    for tx, receipt in zip(block.transactions, receipts, strict=True):
        tip = min(tx.max_priority_fee_per_gas, tx.max_fee_per_gas - base_fee)
        tips_and_gas.append((tip, receipt.gas_used - previous_cumulative))
        previous_cumulative = receipt.gas_used
    return reward_at_percentiles(tips_and_gas, header.gas_used, percentiles)
