"""What a learner waiting for a step's close makes of one feed answer (`waiting.news_of`):
only check-ins for its step are counted into the status it holds; anything else, or nothing,
makes it read the status again. Events decoded from the chain's real logs."""

from __future__ import annotations

from chain_helpers import BANK_WEI, CHAIN_ID, serve_embedded_chain
from eth_account import Account

from swarm_learning.waiting import News, news_of
from swarm_network.chain import SwarmContract, connect
from swarm_network.chain.events import CheckedIn, OtherEvent, StepClosed, decode_events

A, B = "0x" + "a" * 40, "0x" + "b" * 40


def test_only_check_ins_for_the_step_are_counted() -> None:
    assert news_of([CheckedIn(3, A, "1" * 64), CheckedIn(3, B, "2" * 64)], 3) == News(check_ins=2)
    assert news_of([CheckedIn(3, A, "1" * 64), StepClosed(3)], 3) == News(closed=True)


def test_anything_else_means_read_the_status_again() -> None:
    assert news_of([], 3) == News()  # a deadline passed
    assert news_of([CheckedIn(3, A, "1" * 64), OtherEvent("0x01")], 3) == News()
    assert news_of([CheckedIn(4, A, "1" * 64)], 3) == News()
    assert news_of([StepClosed(2)], 3) == News()


def test_the_chain_s_logs_decode_to_every_kind() -> None:
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
    events = decode_events(logs)
    assert CheckedIn(0, learner.address, "1" * 64) in events
    assert StepClosed(0) in events  # the only live learner's check-in closes the step
    assert any(isinstance(e, OtherEvent) for e in events)  # enrolments, the configuration
