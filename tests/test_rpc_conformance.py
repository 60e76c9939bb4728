"""The sentinel's chain answers raw JSON-RPC like a standard Ethereum node (anvil here).

Why: every node of the swarm talks to the sentinel's embedded chain through generic Ethereum
clients, and the embedded chain must be replaceable by any other node (anvil, geth). So the
same scenario runs on both chains (`tests/rpc_scenario.py`) and their raw answers are compared
field by field: every answer has the standard encoding of each field and the same keys as
anvil's except the documented extras (`tests/rpc_schemas.py`), and what both chains computed
from the same signed bytes is equal. Error codes: tests/test_rpc_error_codes.py.
"""

from __future__ import annotations

import math

import pytest
from eth_utils import keccak
from rpc_helpers import (
    ARTIFACT,
    CHAIN_ID,
    DEV,
    DEV_BALANCE_WEI,
    GAS_ESTIMATE_SLACK,
    LEARNER_B,
    MAX_FEE,
    NODE_ENROLLED,
    OUTSIDER,
    custom_error,
)
from rpc_scenario import SCENARIO_TRANSACTIONS, STEPS, Pair
from rpc_schemas import ANVIL_EXTRAS, OURS_EXTRAS, SCHEMAS, nested_objects, shape_problems


@pytest.mark.parametrize("step", sorted(STEPS))
def test_answers_have_the_same_shape(rpc_pair: Pair, step: str) -> None:
    ours = rpc_pair.transcripts["ours"].answers[step]
    theirs = rpc_pair.transcripts["anvil"].answers[step]
    for answer in (ours, theirs):
        assert answer["jsonrpc"] == "2.0" and answer["id"] == 1
    assert shape_problems(STEPS[step], ours, theirs, step) == []


def test_documented_extras_are_really_sent(rpc_pair: Pair) -> None:
    """Each listed extra key shows up in some answer: the list stays exact, not a blanket."""
    seen: dict[str, set[tuple[str, str]]] = {"ours": set(), "anvil": set()}
    for side, transcript in rpc_pair.transcripts.items():
        for step, kind in STEPS.items():
            result = transcript.answers[step].get("result")
            values = result if kind == "logs" else [result]
            name = "log" if kind == "logs" else kind
            for value in values:
                if isinstance(value, dict) and name in SCHEMAS:
                    seen[side] |= {
                        (n, key) for n, obj in nested_objects(name, value) for key in obj
                    }
    for side, extras in (("ours", OURS_EXTRAS), ("anvil", ANVIL_EXTRAS)):
        listed = {(name, key) for name, keys in extras.items() for key in keys}
        assert listed - seen[side] == set(), f"{side}: documented extras never sent"


def test_every_method_under_test_was_exercised(rpc_pair: Pair) -> None:
    methods = {step.split("/")[0] for step in STEPS}
    assert methods == {
        "eth_chainId",
        "net_version",
        "web3_clientVersion",
        "eth_blockNumber",
        "eth_getBalance",
        "eth_getTransactionCount",
        "eth_getCode",
        "eth_gasPrice",
        "eth_feeHistory",
        "eth_estimateGas",
        "eth_call",
        "eth_sendRawTransaction",
        "eth_getTransactionReceipt",
        "eth_getTransactionByHash",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getLogs",
    }


# ---------------------------------------------------------------------------------------------
# Same transactions, same chain data
# ---------------------------------------------------------------------------------------------


def test_identity_answers_agree(rpc_pair: Pair) -> None:
    assert rpc_pair.both("eth_chainId") == (hex(CHAIN_ID), hex(CHAIN_ID))
    assert rpc_pair.both("net_version") == (str(CHAIN_ID), str(CHAIN_ID))
    assert rpc_pair.both("eth_blockNumber/start") == ("0x0", "0x0")
    assert rpc_pair.both("eth_getBalance/start") == (hex(DEV_BALANCE_WEI), hex(DEV_BALANCE_WEI))
    ours_version, anvil_version = rpc_pair.both("web3_clientVersion")
    assert ours_version.startswith("SwarmSentinel/") and anvil_version.startswith("anvil/")


def test_same_signed_bytes_give_the_same_transaction_hashes(rpc_pair: Pair) -> None:
    ours, anvil = rpc_pair.transcripts["ours"], rpc_pair.transcripts["anvil"]
    for name, raw in ours.raw_transactions.items():
        assert anvil.raw_transactions[name] == raw
        expected = "0x" + keccak(raw).hex()
        assert rpc_pair.both(f"eth_sendRawTransaction/{name}") == (expected, expected)
    assert rpc_pair.both("eth_getTransactionCount/start") == ("0x0", "0x0")
    count = hex(SCENARIO_TRANSACTIONS)
    assert rpc_pair.both("eth_getTransactionCount/end") == (count, count)
    assert rpc_pair.both("eth_blockNumber/end") == (count, count)  # one block per transaction


RECEIPT_EQUAL_KEYS = (
    "type",
    "transactionHash",
    "transactionIndex",
    "blockNumber",
    "from",
    "to",
    "contractAddress",
    "cumulativeGasUsed",
    "gasUsed",
    "status",
    "logsBloom",
)
LOG_EQUAL_KEYS = ("address", "topics", "data", "transactionHash", "transactionIndex", "logIndex")


@pytest.mark.parametrize("name", ["deploy", "enroll", "legacy", "reverting"])
def test_receipts_agree_on_everything_but_fees_and_block_hash(rpc_pair: Pair, name: str) -> None:
    ours, anvil = rpc_pair.both(f"eth_getTransactionReceipt/{name}")
    assert {k: ours[k] for k in RECEIPT_EQUAL_KEYS} == {k: anvil[k] for k in RECEIPT_EQUAL_KEYS}
    assert [{k: log[k] for k in LOG_EQUAL_KEYS} for log in ours["logs"]] == [
        {k: log[k] for k in LOG_EQUAL_KEYS} for log in anvil["logs"]
    ]
    assert ours["status"] == ("0x0" if name == "reverting" else "0x1")
    assert ours["type"] == ("0x0" if name == "legacy" else "0x2")
    for log in ours["logs"] + anvil["logs"]:
        assert log["removed"] is False


def test_mined_revert_keeps_its_reason_here(rpc_pair: Pair) -> None:
    ours, anvil = rpc_pair.both("eth_getTransactionReceipt/reverting")
    assert ours["revertReason"] == custom_error("ZeroAddress", [], [])
    assert ours["logs"] == anvil["logs"] == []


TRANSACTION_EQUAL_KEYS = (
    "type",
    "hash",
    "nonce",
    "blockNumber",
    "transactionIndex",
    "from",
    "to",
    "value",
    "gas",
    "input",
    "chainId",
    "v",
    "r",
    "s",
)


@pytest.mark.parametrize("name", ["deploy", "enroll", "legacy"])
def test_transactions_agree(rpc_pair: Pair, name: str) -> None:
    ours, anvil = rpc_pair.both(f"eth_getTransactionByHash/{name}")
    assert {k: ours[k] for k in TRANSACTION_EQUAL_KEYS} == {
        k: anvil[k] for k in TRANSACTION_EQUAL_KEYS
    }
    if name != "legacy":  # type 2: fee caps as signed; gasPrice is what was paid (differs)
        for key in ("maxFeePerGas", "maxPriorityFeePerGas", "yParity", "accessList"):
            assert ours[key] == anvil[key], key
    else:  # legacy: the signed price, and no type-2 fields
        assert ours["gasPrice"] == anvil["gasPrice"] == hex(MAX_FEE)
        assert "maxFeePerGas" not in ours and "maxFeePerGas" not in anvil


BLOCK_EQUAL_KEYS = (
    "number",
    "gasUsed",
    "transactionsRoot",
    "receiptsRoot",
    "logsBloom",
    "sha3Uncles",
    "difficulty",
    "nonce",
    "miner",
    "uncles",
    "withdrawals",
    "withdrawalsRoot",
    "requestsHash",
    "blobGasUsed",
    "excessBlobGas",
)


def test_blocks_agree_on_their_transactions_and_receipts(rpc_pair: Pair) -> None:
    ours, anvil = rpc_pair.both("eth_getBlockByNumber/hashes")
    assert {k: ours[k] for k in BLOCK_EQUAL_KEYS} == {k: anvil[k] for k in BLOCK_EQUAL_KEYS}
    enroll_hash = rpc_pair.transcripts["ours"].result("eth_sendRawTransaction/enroll")
    assert ours["transactions"] == anvil["transactions"] == [enroll_hash]
    full_ours, full_anvil = rpc_pair.both("eth_getBlockByNumber/full")
    assert [tx["hash"] for tx in full_ours["transactions"]] == [enroll_hash]
    assert [tx["hash"] for tx in full_anvil["transactions"]] == [enroll_hash]
    # by hash = by number, on each side
    for side in ("ours", "anvil"):
        transcript = rpc_pair.transcripts[side]
        by_hash = transcript.result("eth_getBlockByHash")
        assert by_hash == transcript.result("eth_getBlockByNumber/hashes")
        latest = transcript.result("eth_getBlockByNumber/latest")
        assert latest["number"] == hex(SCENARIO_TRANSACTIONS)
        assert transcript.result("eth_getBlockByNumber/earliest")["number"] == "0x0"


def test_contract_reads_agree(rpc_pair: Pair) -> None:
    code_ours, code_anvil = rpc_pair.both("eth_getCode/contract")
    assert code_ours == code_anvil == "0x" + ARTIFACT["deployedBytecode"].removeprefix("0x")
    assert rpc_pair.both("eth_getCode/account") == ("0x", "0x")
    admin = "0x" + "00" * 12 + DEV.address[2:].lower()
    assert rpc_pair.both("eth_call/admin") == (admin, admin)
    three, one = "0x" + f"{3:064x}", "0x" + f"{1:064x}"  # sentinel + two enrolled nodes
    assert rpc_pair.both("eth_call/nodeCount") == (three, three)
    assert rpc_pair.both("eth_call/nodeCount-at-deploy") == (one, one)


def test_estimates_cover_the_gas_used(rpc_pair: Pair) -> None:
    for side in ("ours", "anvil"):
        transcript = rpc_pair.transcripts[side]
        for estimate_step, receipt_step in (
            ("eth_estimateGas/deploy", "eth_getTransactionReceipt/deploy"),
            ("eth_estimateGas/enroll", "eth_getTransactionReceipt/enroll"),
        ):
            estimate = int(transcript.result(estimate_step), 16)
            used = int(transcript.result(receipt_step)["gasUsed"], 16)
            assert used <= estimate <= used + GAS_ESTIMATE_SLACK, (side, estimate_step)


def test_logs_agree(rpc_pair: Pair) -> None:
    for step in ("eth_getLogs/address", "eth_getLogs/topic", "eth_getLogs/blockHash"):
        ours, anvil = rpc_pair.both(step)
        assert [{k: e[k] for k in LOG_EQUAL_KEYS + ("blockNumber",)} for e in ours] == [
            {k: e[k] for k in LOG_EQUAL_KEYS + ("blockNumber",)} for e in anvil
        ], step
    by_address, _ = rpc_pair.both("eth_getLogs/address")
    assert [entry["topics"][0] for entry in by_address] == [NODE_ENROLLED] * 3
    by_topic, _ = rpc_pair.both("eth_getLogs/topic")
    assert len(by_topic) == 1 and by_topic[0]["topics"][1].endswith(LEARNER_B[2:].lower())
    assert rpc_pair.both("eth_getLogs/none") == ([], [])


def test_fee_history_has_one_more_base_fee_than_blocks(rpc_pair: Pair) -> None:
    for side in ("ours", "anvil"):
        history = rpc_pair.transcripts[side].result("eth_feeHistory/end")
        assert history["oldestBlock"] == hex(SCENARIO_TRANSACTIONS - 3)
        assert len(history["baseFeePerGas"]) == 5 and len(history["gasUsedRatio"]) == 4
        assert [len(rewards) for rewards in history["reward"]] == [2, 2, 2, 2]


def test_finite_floats_only_in_gas_used_ratio(rpc_pair: Pair) -> None:
    """gasUsedRatio is the one place JSON numbers appear; both sides send finite floats."""
    for side in ("ours", "anvil"):
        ratios = rpc_pair.transcripts[side].result("eth_feeHistory/end")["gasUsedRatio"]
        assert all(math.isfinite(r) and 0 < r < 1 for r in ratios)


def test_reverting_call_and_estimate_carry_the_reason(rpc_pair: Pair) -> None:
    for step, data in (
        ("eth_call/revert", custom_error("OnlySentinel", ["address"], [OUTSIDER])),
        ("eth_estimateGas/revert", custom_error("ZeroAddress", [], [])),
    ):
        answers = rpc_pair.transcripts
        ours, anvil = (answers[side].answers[step]["error"] for side in ("ours", "anvil"))
        # A custom error: geth's answer. Anvil appends its own rendering of the data to the
        # message; the code and the data, which clients decode, are the same.
        assert ours == {"code": 3, "message": "execution reverted", "data": data}, step
        assert (anvil["code"], anvil["data"]) == (3, data), step
        assert anvil["message"].startswith("execution reverted"), step
