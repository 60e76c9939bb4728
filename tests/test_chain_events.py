"""The events a waiting learner acts on, decoded from the chain's real logs
(`swarm_network.chain.events`): a check-in names its step, node and file; a step's close is
seen; the contract's other events are left out."""

from __future__ import annotations

from chain_helpers import BANK_WEI, CHAIN_ID, serve_embedded_chain
from eth_account import Account

from swarm_network.chain import SwarmContract, connect
from swarm_network.chain.events import CheckedIn, StepClosed, decode_events


def test_the_chain_s_logs_decode_to_check_ins_and_closes() -> None:
    bank, learner = Account.create(), Account.create()
    with serve_embedded_chain({bank.address: BANK_WEI}, chain_id=CHAIN_ID) as server:
        w3 = connect(server.url)
        admin = SwarmContract.deploy(w3=w3, account=bank, sentinel_file_url="http://127.0.0.1:1")
        admin.enroll(learner.address, "learner", "http://127.0.0.1:2")
        admin.send_value(learner.address, 10**20)
        client = SwarmContract(w3=w3, address=admin.address, account=learner)
        client.configure_training(
            min_peers=1, grace_seconds=0, merge_method="mean", merge_params="{}"
        )
        client.check_in(step=0, weight_hash="1" * 64, weightage=1, base_hash="0" * 64)
        logs = w3.provider.make_request(
            "eth_getLogs", [{"address": admin.address, "fromBlock": "0x0"}]
        )["result"]
    # The only live learner's check-in closes step 0; enrolments and the configuration are
    # logs too, but no event a waiting learner acts on.
    assert len(logs) > 2
    assert decode_events(logs) == [CheckedIn(0, learner.address, "1" * 64), StepClosed(0)]
