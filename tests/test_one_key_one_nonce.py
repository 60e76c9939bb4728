"""One key, one nonce sequence: a pipeline node writes to two contracts from two threads (its
main loop mines nudges through the registry, a task thread submits results through the
pipeline contract). Two senders for one key raced for the same nonce, and the loser's task
crashed with "nonce too low" (a pipeline stalled on it). Both on the embedded chain and anvil."""

from __future__ import annotations

import threading
from pathlib import Path

from swarm_network.chain import SwarmContract
from swarm_network.pipeline.deploy import deploy_pipeline_contract

ROUNDS = 12


def test_a_pipeline_contract_beside_the_registry_shares_its_sender(
    swarm_factory, tmp_path: Path
) -> None:
    swarm = swarm_factory(learners=1)
    pipeline = deploy_pipeline_contract(swarm=swarm.admin, data_dir=tmp_path)
    assert pipeline._client.sender is swarm.admin.sender
    learner = swarm.learners[0]
    beside = type(pipeline).beside(learner, pipeline.address)
    assert beside._client.sender is learner.sender

    errors: list[BaseException] = []

    def nudges() -> None:
        try:
            for _ in range(ROUNDS):
                learner.send_value(learner.account.address, 0)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=nudges)
    thread.start()
    for _ in range(ROUNDS):
        beside.register_worker(["digits"])
    thread.join()
    assert errors == []
    count = swarm.w3.eth.get_transaction_count(learner.account.address)
    assert count >= 2 * ROUNDS


def test_a_nonce_taken_by_another_process_of_the_key_is_signed_again(swarm_factory) -> None:
    swarm = swarm_factory(learners=1)
    learner = swarm.learners[0]
    # Another process holding the same key file: its own sender, its own idea of the nonce.
    other = SwarmContract(w3=swarm.w3, address=swarm.address, account=learner.account)
    learner.send_value(learner.account.address, 0)  # our sender now caches the next nonce
    other.send_value(learner.account.address, 0)  # ... which the other process takes
    before = swarm.w3.eth.get_transaction_count(learner.account.address)
    receipt = learner.send_value(learner.account.address, 0)
    assert receipt["status"] == 1
    assert swarm.w3.eth.get_transaction_count(learner.account.address) == before + 1
