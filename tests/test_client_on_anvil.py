"""The chain client on a chain that is not ours (anvil, geth semantics): deadlines must pass
on an idle chain, and a lost race must be recognised by its reason, though such chains keep
no revert reason in the receipt. Both once hung a whole swarm on anvil.

- On geth and anvil, an eth_call on "latest" runs with the last block's timestamp. A swarm
  whose last live learner never checks in is idle: if the dry run of `closeStep` looked at
  "latest", the grace period would never seem over, no transaction would be sent, and no block
  would ever move the time on. Dry runs use the pending block (timestamp: now).
- Two learners configuring the training at once both pass their dry run; the second's
  transaction reverts when mined, and its receipt says nothing. The client asks the chain
  again, so the node gets AlreadyConfigured and goes on with the winner's settings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from anvil_node import MISSING_REASON, anvil_binary, run_anvil
from eth_account import Account
from web3 import Web3

from swarm_learning.node import LearnerNode
from swarm_learning.settings import LearnerSettings
from swarm_learning.weights import WeightSchema
from swarm_network.chain import SwarmContract, connect
from swarm_network.errors import AlreadyConfigured, ConfigError, ContractRevert

pytestmark = pytest.mark.skipif(anvil_binary() is None, reason=MISSING_REASON)

ZERO = "0" * 64
FUNDS = 10**18


@dataclass
class Swarm:
    w3: Web3
    admin: SwarmContract
    learners: list[SwarmContract]


@pytest.fixture
def swarm() -> Iterator[Swarm]:
    """A fresh anvil with our contract and three enrolled, funded learners."""
    with run_anvil() as node:
        w3 = connect(node.url)
        bank = Account.from_key(node.funded_key)
        admin = SwarmContract.deploy(w3=w3, account=bank, sentinel_file_url="http://sentinel")
        learners = []
        for i in range(3):
            account = Account.create()
            admin.send_value(account.address, FUNDS)
            admin.enroll(account.address, "learner", f"http://learner-{i}")
            learners.append(SwarmContract(w3=w3, address=admin.address, account=account))
        yield Swarm(w3=w3, admin=admin, learners=learners)


def test_grace_period_ends_on_an_idle_chain(swarm: Swarm) -> None:
    """Two of three live learners check in; the third never does. Nothing else happens on
    the chain, yet the step closes once the grace period is over."""
    first, second, _ = swarm.learners
    first.configure_training(min_peers=2, grace_seconds=2, merge_method="mean", merge_params="{}")
    for i, learner in enumerate((first, second)):
        learner.check_in(step=0, weight_hash=f"{i + 1:064x}", weightage=1, base_hash=ZERO)
    quorum_block = swarm.w3.eth.block_number
    deadline = time.monotonic() + 15
    while True:
        try:
            first.close_step(0)
            break
        except ContractRevert as exc:
            assert "grace period is not over" in exc.reason
            assert time.monotonic() < deadline, "the grace period never ended on an idle chain"
            time.sleep(0.5)
    assert swarm.admin.step(0).closed
    assert swarm.w3.eth.block_number == quorum_block + 1  # only the closing transaction


def stage_lost_race(
    swarm: Swarm, action: Callable[[], object], *, schema_hash: bytes = bytes(32)
) -> dict[str, object]:
    """Run `action` (which configures the training as the loser, learner 1) in a thread while
    learner 0 wins: with automine off, the loser's dry run passes and its transaction waits in
    the pool; the winner's, at ten times the gas price, is mined before it in the same block.
    The loser's receipt then carries no reason. Returns what `action` returned or raised."""
    winner = swarm.learners[0]
    swarm.w3.provider.make_request("evm_setAutomine", [False])
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["returned"] = action()
        except Exception as exc:  # the tests look at it
            outcome["raised"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while int(swarm.w3.provider.make_request("txpool_status", [])["result"]["pending"], 16) < 1:
        assert time.monotonic() < deadline and thread.is_alive(), outcome
        time.sleep(0.05)
    call = winner.contract.functions.configureTraining(2, 10, 2, schema_hash, "mean", "{}")
    tx = call.build_transaction(
        {
            "from": winner.account.address,
            "gas": 1_000_000,
            "gasPrice": 10 * swarm.w3.eth.gas_price,
            "nonce": swarm.w3.eth.get_transaction_count(winner.account.address),
            "chainId": swarm.w3.eth.chain_id,
        }
    )
    swarm.w3.eth.send_raw_transaction(winner.account.sign_transaction(tx).raw_transaction)
    swarm.w3.provider.make_request("evm_mine", [])
    thread.join(timeout=30)
    assert not thread.is_alive()
    block = swarm.w3.eth.get_block("latest", full_transactions=True)
    receipts = [swarm.w3.eth.get_transaction_receipt(t["hash"]) for t in block["transactions"]]
    assert [r["status"] for r in receipts] == [1, 0], "the race did not happen as staged"
    assert not receipts[1].get("revertReason")  # nothing to read the reason from
    return outcome


def test_a_lost_race_is_reported_with_its_reason(swarm: Swarm) -> None:
    loser = swarm.learners[1]
    outcome = stage_lost_race(
        swarm,
        lambda: loser.configure_training(
            min_peers=3, grace_seconds=5, max_staleness=1, merge_method="mean", merge_params="{}"
        ),
    )
    error = outcome.get("raised")
    assert isinstance(error, AlreadyConfigured), outcome
    assert error.reason == "training is already configured"


def test_a_learner_that_loses_the_configure_race_goes_on(swarm: Swarm, tmp_path: Path) -> None:
    settings = {"min_peers": 2, "merge_method": "mean", "node_dir": tmp_path}
    node = LearnerNode(LearnerSettings.resolve(settings, environ={}))
    node.contract = swarm.learners[1]
    schema = WeightSchema.from_arrays({"w": np.zeros((2, 3), dtype=np.float32)})
    outcome = stage_lost_race(
        swarm,
        lambda: node.agree_on_training(schema),
        schema_hash=bytes.fromhex(schema.digest()),
    )
    assert "raised" not in outcome, outcome
    method, params, config = outcome["returned"]  # type: ignore[misc]
    assert (method, params, config.min_peers, config.grace_seconds) == ("mean", {}, 2, 10)


def test_a_learner_with_another_model_is_refused_before_its_first_step(
    swarm: Swarm, tmp_path: Path
) -> None:
    settings = {"min_peers": 2, "merge_method": "mean"}
    first = LearnerNode(
        LearnerSettings.resolve({**settings, "node_dir": tmp_path / "a"}, environ={})
    )
    first.contract = swarm.learners[0]
    first.agree_on_training(WeightSchema.from_arrays({"w": np.zeros((2, 3), dtype=np.float32)}))
    other = LearnerNode(
        LearnerSettings.resolve({**settings, "node_dir": tmp_path / "b"}, environ={})
    )
    other.contract = swarm.learners[1]
    with pytest.raises(ConfigError, match="does not fit the swarm"):
        other.agree_on_training(WeightSchema.from_arrays({"w": np.zeros((3, 2), dtype=np.float32)}))
