"""Admission through the REST API of a real sentinel and a real SN node: who may join, and
that the join token stays a secret (never in an answer or a log line)."""

from __future__ import annotations

import re

import pytest
import requests
from eth_account import Account
from rest_client import TIMEOUT, assert_json_error, enrolled, get, join_body
from web3 import Web3

from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_network.admission import sign_join
from swarm_network.defaults import CHAIN_ID

LOG_RECORD_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")


def test_join_with_wrong_token_is_refused_and_not_enrolled(
    node_url: str, swarm: LocalSwarm
) -> None:
    account = Account.create()
    body = join_body(account, token="not-the-token", file_url="http://127.0.0.1:1/")
    response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
    error = assert_json_error(response, 403)["error"]
    assert "wrong join token" in error
    assert "not-the-token" not in error
    for url in (swarm.sentinel_rest, swarm.sn_rest):
        assert account.address.lower() not in enrolled(url)


@pytest.mark.parametrize("field", ["address", "role", "file_url", "signature", "token"])
def test_join_with_a_missing_field_is_400(node_url: str, swarm: LocalSwarm, field: str) -> None:
    account = Account.create()
    body = join_body(account, token=swarm.join_token, file_url="http://127.0.0.1:1")
    del body[field]
    response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
    assert field in assert_json_error(response, 400)["error"]
    assert account.address.lower() not in enrolled(node_url)


def test_join_with_someone_elses_signature_is_refused(node_url: str, swarm: LocalSwarm) -> None:
    victim, attacker = Account.create(), Account.create()
    file_url = "http://127.0.0.1:2"
    body = join_body(victim, token=swarm.join_token, file_url=file_url)
    body["signature"] = sign_join(attacker, "learner", file_url)
    response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
    assert "signature" in assert_json_error(response, 403)["error"]
    nodes = enrolled(node_url)
    assert victim.address.lower() not in nodes
    assert attacker.address.lower() not in nodes


def test_join_signature_binds_the_file_url(node_url: str, swarm: LocalSwarm) -> None:
    account = Account.create()
    body = join_body(account, token=swarm.join_token, file_url="http://127.0.0.1:3")
    body["file_url"] = "http://evil.example:3"
    response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
    assert_json_error(response, 403)
    assert account.address.lower() not in enrolled(node_url)


def test_join_with_an_unparseable_signature_is_400(node_url: str, swarm: LocalSwarm) -> None:
    account = Account.create()
    body = join_body(account, token=swarm.join_token, file_url="http://127.0.0.1:4")
    body["signature"] = "not-hex"
    response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
    assert "signature" in assert_json_error(response, 400)["error"]


@pytest.mark.parametrize(
    "signature", ["0x1234", "0x" + "00" * 65, "0x" + "ff" * 65], ids=["short", "zeros", "ff"]
)
def test_join_with_an_invalid_signature_is_4xx_not_500(
    node_url: str, swarm: LocalSwarm, signature: str
) -> None:
    account = Account.create()
    body = join_body(account, token=swarm.join_token, file_url="http://127.0.0.1:5")
    body["signature"] = signature
    response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
    assert response.status_code in (400, 403), (response.status_code, response.text)
    assert_json_error(response, response.status_code)


def test_join_through_sn_enrols_funds_and_rejoins(
    swarm: LocalSwarm, chain_w3: Web3, addresses: dict[str, str]
) -> None:
    account = Account.create()
    file_url = "http://127.0.0.1:45678"
    assert chain_w3.eth.get_balance(account.address) == 0
    body = join_body(account, token=swarm.join_token, file_url=file_url)

    response = requests.post(f"{swarm.sn_rest}/v1/join", json=body, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    joined = response.json()
    assert joined["address"] == account.address
    assert joined["enrolled"] is True
    assert joined["rejoined"] is False
    assert joined["chain_id"] == CHAIN_ID
    assert joined["contract_address"] == get(f"{swarm.sentinel_rest}/v1/chain")["contract_address"]

    for url in (swarm.sentinel_rest, swarm.sn_rest):
        node = enrolled(url)[account.address.lower()]
        assert node["address"] == account.address
        assert node["role"] == "learner"
        assert node["status"] == "joined"
        assert node["file_url"] == file_url
        assert node["last_step"] is None
        training = get(f"{url}/v1/training")
        assert training["learners"] >= 1
        assert account.address in training["waiting_for"]

    balance = chain_w3.eth.get_balance(account.address)
    assert balance > 0

    # The same key again (a restarted learner): accepted, not enrolled or funded twice.
    again = requests.post(f"{swarm.sn_rest}/v1/join", json=body, timeout=TIMEOUT)
    assert again.status_code == 200, again.text
    assert again.json()["rejoined"] is True
    assert again.json()["enrolled"] is False
    direct = requests.post(f"{swarm.sentinel_rest}/v1/join", json=body, timeout=TIMEOUT)
    assert direct.status_code == 200 and direct.json()["rejoined"] is True
    assert chain_w3.eth.get_balance(account.address) == balance
    listed = [n["address"] for n in get(f"{swarm.sn_rest}/v1/nodes")["nodes"]]
    assert listed.count(account.address) == 1

    # ...but not under another role.
    as_network = join_body(account, role="network", token=swarm.join_token, file_url=file_url)
    response = requests.post(f"{swarm.sn_rest}/v1/join", json=as_network, timeout=TIMEOUT)
    assert "already enrolled" in assert_json_error(response, 403)["error"]
    assert enrolled(swarm.sentinel_rest)[account.address.lower()]["role"] == "learner"


def test_join_token_is_not_in_any_log_record(swarm: LocalSwarm) -> None:
    """No log line (of any node) carries the token, even after refused and accepted joins."""
    requests.post(
        f"{swarm.sn_rest}/v1/join",
        json=join_body(Account.create(), token="wrong-token-xyz", file_url="http://127.0.0.1:6"),
        timeout=TIMEOUT,
    )
    for process in swarm.processes:
        records = [
            line
            for line in process.log_path.read_text(errors="replace").splitlines()
            if LOG_RECORD_RE.match(line)
        ]
        assert records, process.name
        for line in records:
            assert swarm.join_token not in line, (process.name, line)
            assert "wrong-token-xyz" not in line, (process.name, line)


def test_join_token_is_not_in_the_sentinel_log_file(swarm: LocalSwarm) -> None:
    log_text = swarm.processes[0].log_path.read_text(errors="replace")
    assert "enrolled" in log_text  # the SN node's join is logged...
    assert swarm.join_token not in log_text  # ...but the token must not be


def test_a_learner_that_names_a_training_is_enrolled_in_that_training_only(
    node_url: str, swarm: LocalSwarm
) -> None:
    """The first learner to name a training starts it (its own contract, recorded on the
    swarm's first one); the next joins the same. Every network node serves it too."""
    name = f"t-{Account.create().address[2:10].lower()}"
    first, second = Account.create(), Account.create()
    answers = []
    for account, port in ((first, 5), (second, 6)):
        body = join_body(
            account, token=swarm.join_token, file_url=f"http://127.0.0.1:{port}", training=name
        )
        response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    assert answers[0]["training"] == answers[1]["training"] == name
    address = answers[0]["contract_address"]
    assert answers[1]["contract_address"] == address
    assert address != get(f"{node_url}/v1/chain")["contract_address"]
    listed = {t["name"]: t for t in get(f"{node_url}/v1/trainings")["trainings"]}
    assert listed[name]["contract_address"] == address and listed[name]["learners"] == 2
    members = enrolled(node_url, name)
    assert {first.address.lower(), second.address.lower()} <= set(members)
    network = {a for a, n in members.items() if n["role"] == "network"}
    assert network == {a for a, n in enrolled(node_url).items() if n["role"] == "network"}
    for account in (first, second):
        assert account.address.lower() not in enrolled(node_url)  # not in the default one


def test_join_signature_binds_the_training(node_url: str, swarm: LocalSwarm) -> None:
    account = Account.create()
    body = join_body(account, token=swarm.join_token, file_url="http://127.0.0.1:7")
    body["training"] = "somewhere-else"  # signed for the default training
    response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
    assert "signature" in assert_json_error(response, 403)["error"]
    assert "somewhere-else" not in {t["name"] for t in get(f"{node_url}/v1/trainings")["trainings"]}


@pytest.mark.parametrize(
    ("role", "training", "message"),
    [
        ("learner", "a b", "a training's name is 1-64 letters"),
        ("learner", "x" * 65, "a training's name is 1-64 letters"),
        ("network", "alpha", "a network node joins the swarm"),
    ],
)
def test_a_bad_training_is_refused_with_400(
    node_url: str, swarm: LocalSwarm, role: str, training: str, message: str
) -> None:
    account = Account.create()
    body = join_body(
        account, role=role, token=swarm.join_token, file_url="http://127.0.0.1:8",
        training=training,
    )  # fmt: skip
    response = requests.post(f"{node_url}/v1/join", json=body, timeout=TIMEOUT)
    assert message in assert_json_error(response, 400)["error"]
    assert account.address.lower() not in enrolled(node_url)
