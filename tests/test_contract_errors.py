"""The contract's refusals arrive as typed errors with readable reasons, on the embedded chain
and on anvil alike: from a dry run (eth_call), from a mined receipt where the chain keeps the
revert data (ours), and by asking again where it keeps none (anvil). Also: the schema hash of
the first learner's model is stored at configuration and read back with the config."""

from __future__ import annotations

import asyncio
import hashlib
import string
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests
from aiohttp import web
from anvil_node import MISSING_REASON, anvil_binary, run_anvil
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from contracts import load_artifact
from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.rpc_server import create_rpc_app
from swarm_network.chain import CONTRACT_NAME, SwarmContract, connect, revert_error
from swarm_network.chain.reverts import REFUSALS
from swarm_network.chain.transactions import receipt_revert
from swarm_network.errors import (
    AlreadyConfigured,
    ContractRevert,
    InvalidRequest,
    StaleBase,
    StepNotOpen,
)
from swarm_network.files.server import BackgroundServer
from swarm_network.rest.errors import json_errors

ZERO = "0" * 64
FUNDS = 10**18
N_LEARNERS = 3
ABI_ERRORS = {e["name"]: e for e in load_artifact(CONTRACT_NAME)["abi"] if e["type"] == "error"}


def h(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def error_data(name: str, *values: object) -> bytes:
    """Revert data of the contract's custom error `name` with these arguments."""
    types = [i["type"] for i in ABI_ERRORS[name]["inputs"]]
    return keccak(text=f"{name}({','.join(types)})")[:4] + abi_encode(types, list(values))


# ------------------------------------------------------------------------------ the one table


def test_every_custom_error_of_the_contract_has_its_refusal() -> None:
    assert set(REFUSALS) == set(ABI_ERRORS)
    for name, refusal in REFUSALS.items():
        shown = {field for _, field, _, _ in string.Formatter().parse(refusal.details) if field}
        argument_names = {i["name"] for i in ABI_ERRORS[name]["inputs"]}
        assert shown == argument_names, f"{name} must show each of its arguments once"


def test_revert_data_becomes_its_type_with_a_readable_reason() -> None:
    error = revert_error(error_data("StepNotOpen", 4, 5))
    assert type(error) is StepNotOpen
    assert error.reason == "step is not open (step 4; open step 5)"
    assert (error.error, error.arguments) == ("StepNotOpen", {"step": 4, "openStep": 5})

    stale = revert_error(error_data("StaleBaseNotAgreed", 3, bytes.fromhex(h("b")), b"\x01" * 32))
    assert type(stale) is StaleBase
    assert stale.reason == (
        "stale base: not the agreed model of the previous step "
        f"(step 3; base {h('b')}; agreed {'01' * 32})"
    )
    outsider = "0x" + "ab" * 20
    refused = revert_error(error_data("NotALearner", outsider))
    assert refused.arguments == {"caller": Web3.to_checksum_address(outsider)}
    assert type(revert_error(error_data("AlreadyConfigured"))) is AlreadyConfigured


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes.fromhex("08c379a0") + abi_encode(["string"], ["plain text"]), "plain text"),
        (bytes.fromhex("4e487b71") + abi_encode(["uint256"], [0x11]), "panic code 0x11"),
        (bytes.fromhex("deadbeef") + bytes(32), "unknown contract error 0xdeadbeef"),
        (error_data("StepNotOpen", 4, 5)[:20], "undecodable revert data 0x"),
        (b"", "execution reverted without data"),
    ],
    ids=["revert-string", "panic", "unknown-selector", "truncated", "empty"],
)
def test_other_revert_data_is_a_plain_refusal_never_a_crash(data: bytes, reason: str) -> None:
    error = revert_error(data)
    assert type(error) is ContractRevert
    assert error.reason.startswith(reason)
    assert error.error is None


# ------------------------------------------------------------------------- on both chains


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    funded_key: str


@dataclass
class Swarm:
    endpoint: Endpoint
    w3: Web3
    admin: SwarmContract
    learners: list[SwarmContract]

    def configure(self, *, min_peers: int = 2, schema_hash: str = ZERO) -> None:
        self.learners[0].configure_training(
            min_peers=min_peers,
            grace_seconds=0,
            max_staleness=1,
            merge_method="mean",
            merge_params="{}",
            schema_hash=schema_hash,
        )

    def check_in(self, i: int, step: int, base: str = ZERO) -> None:
        self.learners[i].check_in(
            step=step, weight_hash=h(f"w-{i}-{step}"), weightage=1, base_hash=base
        )


def _embedded() -> Iterator[Endpoint]:
    bank = Account.create()
    chain = EmbeddedChain(funded_accounts={bank.address: 10**24}, chain_id=1337)
    server = BackgroundServer(create_rpc_app(chain), host="127.0.0.1", port=0).start()
    try:
        yield Endpoint("embedded", server.url, "0x" + bytes(bank.key).hex())
    finally:
        server.stop()


def _anvil() -> Iterator[Endpoint]:
    with run_anvil() as node:
        yield Endpoint("anvil", node.url, node.funded_key)


ON_ANVIL = pytest.param(
    "anvil", marks=pytest.mark.skipif(anvil_binary() is None, reason=MISSING_REASON)
)


@pytest.fixture(scope="module", params=["embedded", ON_ANVIL])
def endpoint(request: pytest.FixtureRequest) -> Iterator[Endpoint]:
    yield from (_embedded() if request.param == "embedded" else _anvil())


@pytest.fixture
def swarm(endpoint: Endpoint) -> Swarm:
    """A fresh contract with enrolled, funded learners; training not configured."""
    w3 = connect(endpoint.url)
    bank = Account.from_key(endpoint.funded_key)
    admin = SwarmContract.deploy(w3=w3, account=bank, sentinel_file_url="http://sentinel")
    learners = []
    for i in range(N_LEARNERS):
        account = Account.create()
        admin.send_value(account.address, FUNDS)
        admin.enroll(account.address, "learner", f"http://learner-{i}")
        learners.append(SwarmContract(w3=w3, address=admin.address, account=account))
    return Swarm(endpoint=endpoint, w3=w3, admin=admin, learners=learners)


def test_a_check_in_for_a_closed_step_is_step_not_open(swarm: Swarm) -> None:
    swarm.configure(min_peers=2)
    for i in range(N_LEARNERS):
        swarm.check_in(i, step=0)  # the last one closes step 0
    with pytest.raises(StepNotOpen) as refused:
        swarm.check_in(0, step=0)
    assert refused.value.reason == "step is not open (step 0; open step 1)"
    assert refused.value.arguments == {"step": 0, "openStep": 1}
    with pytest.raises(StepNotOpen, match=r"step is not open \(step 0; open step 1\)"):
        swarm.admin.close_step(0)


def test_each_stale_base_is_stale_base(swarm: Swarm) -> None:
    swarm.configure(min_peers=2)
    with pytest.raises(StaleBase, match="step 0 starts from no merged model") as at_zero:
        swarm.check_in(0, step=0, base=h("anything"))
    assert at_zero.value.error == "StaleBaseAtStepZero"
    for i in range(N_LEARNERS):
        swarm.check_in(i, step=0)
    # Step 0 is closed and nobody reported its merge yet. A participant of step 0 may vote
    # with its base, so the refusals come from a learner that did not take part.
    latecomer = Account.create()
    swarm.admin.send_value(latecomer.address, FUNDS)
    swarm.admin.enroll(latecomer.address, "learner", "http://late")
    late = SwarmContract(w3=swarm.w3, address=swarm.admin.address, account=latecomer)

    def refusal_of_late_work(base: str) -> StaleBase:
        with pytest.raises(StaleBase) as refused:
            late.check_in(step=1, weight_hash=h("late"), weightage=1, base_hash=base)
        return refused.value

    unsettled = refusal_of_late_work(h("other"))
    assert unsettled.error == "StaleBaseUnsettled"
    assert unsettled.reason.startswith("stale base: previous merge is not agreed yet (step 1;")
    swarm.check_in(0, step=1, base=h("m0"))
    swarm.check_in(1, step=1, base=h("m0"))  # 2 of 3 participants: agreed
    missing = refusal_of_late_work(ZERO)
    assert missing.error == "StaleBaseMissing"
    assert missing.reason == "stale base: catch up from the agreed model first (step 1)"
    not_agreed = refusal_of_late_work(h("other"))
    assert not_agreed.error == "StaleBaseNotAgreed"
    assert not_agreed.arguments == {"step": 1, "baseHash": h("other"), "agreedHash": h("m0")}


def test_configuring_twice_is_already_configured(swarm: Swarm) -> None:
    swarm.configure()
    with pytest.raises(AlreadyConfigured, match="^training is already configured$"):
        swarm.learners[1].configure_training(
            min_peers=3, grace_seconds=1, merge_method="mean", merge_params="{}"
        )


def test_a_mined_revert_is_decoded_from_its_receipt_where_the_chain_keeps_it(
    swarm: Swarm,
) -> None:
    """A transaction sent without a dry run, refused in its block: our chain records the
    revert data in the receipt (as Besu does), anvil records none."""
    swarm.configure()
    learner = swarm.learners[0]
    assert learner.account is not None
    data = learner.contract.encode_abi("checkIn", [5, bytes.fromhex(h("w")), 1, bytes(32), 0])
    tx = {
        "to": learner.address,
        "data": data,
        "value": 0,
        "gas": 1_000_000,
        "gasPrice": swarm.w3.eth.gas_price,
        "nonce": swarm.w3.eth.get_transaction_count(learner.account.address),
        "chainId": swarm.w3.eth.chain_id,
    }
    signed = learner.account.sign_transaction(tx)
    swarm.w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = dict(swarm.w3.eth.wait_for_transaction_receipt(signed.hash, timeout=30))
    assert receipt["status"] == 0
    refusal = receipt_revert(receipt)
    if swarm.endpoint.name == "anvil":
        assert refusal is None
    else:
        assert isinstance(refusal, StepNotOpen)
        assert refusal.reason == "step is not open (step 5; open step 0)"


def test_schema_hash_is_stored_at_configuration_and_read_back(swarm: Swarm) -> None:
    assert swarm.admin.training_config().schema_hash is None
    schema = h("the model's canonical schema json")
    swarm.configure(schema_hash="0x" + schema)
    config = swarm.admin.training_config()
    assert (config.configured, config.min_peers, config.max_staleness) == (True, 2, 1)
    assert (config.merge_method, config.merge_params) == ("mean", "{}")
    assert config.schema_hash == schema
    (event,) = swarm.admin.contract.events.TrainingConfigured().get_logs(from_block=0)
    assert event["args"]["schemaHash"].hex() == schema


def test_a_training_configured_without_a_schema_reads_none(swarm: Swarm) -> None:
    swarm.learners[0].configure_training(
        min_peers=1, grace_seconds=0, merge_method="mean", merge_params="{}"
    )
    assert swarm.admin.training_config().schema_hash is None


def test_a_malformed_schema_hash_is_refused_by_name(swarm: Swarm) -> None:
    with pytest.raises(InvalidRequest, match="not a 32-byte hash"):  # never sent
        swarm.configure(schema_hash="0x1234")
    assert not swarm.admin.training_config().configured


def test_a_refusal_reaches_a_rest_client_as_409_with_its_reason(swarm: Swarm) -> None:
    swarm.configure()

    async def check_in_for_step_7(request: web.Request) -> web.Response:
        await asyncio.to_thread(swarm.check_in, 0, 7)
        return web.json_response({})

    app = web.Application(middlewares=[json_errors])
    app.router.add_post("/check-in", check_in_for_step_7)
    server = BackgroundServer(app).start()
    try:
        response = requests.post(f"http://127.0.0.1:{server.port}/check-in", timeout=30)
    finally:
        server.stop()
    assert response.status_code == 409
    assert response.json() == {
        "error": "the contract refused: step is not open (step 7; open step 0)",
        "status": 409,
    }


# ------------------------------------------------------------------ a lost race, on anvil


@pytest.mark.parametrize("endpoint", [ON_ANVIL], indirect=True)
def test_a_lost_close_step_race_on_anvil_is_step_not_open(swarm: Swarm) -> None:
    """The loser's dry run passes and its transaction waits in the pool (automine off, which
    the embedded chain does not offer); the winner's closes the step first. Anvil keeps no
    revert data in the receipt: the client asks again and raises the refusal as its type."""
    swarm.configure(min_peers=2)
    swarm.check_in(0, step=0)
    swarm.check_in(1, step=0)  # learner 2 is live and missing: the grace period (0) applies
    outcome = _race(swarm, loser=lambda: swarm.learners[1].close_step(0))
    error = outcome.get("raised")
    assert isinstance(error, StepNotOpen), outcome
    assert error.arguments == {"step": 0, "openStep": 1}


def _race(swarm: Swarm, *, loser: Callable[[], object]) -> dict[str, object]:
    swarm.w3.provider.make_request("evm_setAutomine", [False])
    try:
        return _stage_race(swarm, loser)
    finally:
        swarm.w3.provider.make_request("evm_setAutomine", [True])


def _stage_race(swarm: Swarm, loser: Callable[[], object]) -> dict[str, object]:
    winner = swarm.learners[0]
    assert winner.account is not None
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["returned"] = loser()
        except Exception as exc:  # the test looks at it
            outcome["raised"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while int(swarm.w3.provider.make_request("txpool_status", [])["result"]["pending"], 16) < 1:
        assert time.monotonic() < deadline and thread.is_alive(), outcome
        time.sleep(0.05)
    tx = {
        "to": winner.address,
        "data": winner.contract.encode_abi("closeStep", [0]),
        "value": 0,
        "gas": 1_000_000,
        "gasPrice": 10 * swarm.w3.eth.gas_price,
        "nonce": swarm.w3.eth.get_transaction_count(winner.account.address),
        "chainId": swarm.w3.eth.chain_id,
    }
    swarm.w3.eth.send_raw_transaction(winner.account.sign_transaction(tx).raw_transaction)
    swarm.w3.provider.make_request("evm_mine", [])
    thread.join(timeout=30)
    assert not thread.is_alive()
    block = swarm.w3.eth.get_block("latest", full_transactions=True)
    receipts = [swarm.w3.eth.get_transaction_receipt(t["hash"]) for t in block["transactions"]]
    statuses = [r["status"] for r in receipts]
    assert statuses == [1, 0], "the race did not happen as staged"
    return outcome
