"""The committed contract artifacts are exactly what the committed sources compile to, and a
deployed contract holds exactly the artifact's runtime code."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account

from contracts import ARTIFACTS_DIR, CONTRACT_NAMES, CONTRACTS_DIR, load_artifact
from sentinel.chain.embedded import EmbeddedChain
from sentinel.chain.rpc_server import create_rpc_app
from swarm_network.chain import CONTRACT_NAME, SwarmContract, connect
from swarm_network.files.server import BackgroundServer

SOLC_JS = CONTRACTS_DIR / "node_modules" / "solc"


@pytest.mark.skipif(
    not SOLC_JS.is_dir(),
    reason=f"solc-js is not installed ({SOLC_JS} is missing): run `npm ci` in contracts/",
)
def test_committed_artifacts_match_the_sources() -> None:
    from contracts.compile import compile_artifacts

    compiled = compile_artifacts()
    assert sorted(compiled) == sorted(f"{name}.json" for name in CONTRACT_NAMES)
    committed = sorted(p.name for p in ARTIFACTS_DIR.glob("*.json"))
    assert committed == sorted(compiled), "stray or missing files in contracts/artifacts/"
    for file_name, text in compiled.items():
        on_disk = (ARTIFACTS_DIR / file_name).read_bytes()
        assert on_disk == text.encode("utf-8"), (
            f"contracts/artifacts/{file_name} differs from what the sources compile to: "
            "run `python -m contracts.compile`"
        )


@pytest.fixture(scope="module")
def deployed() -> Iterator[SwarmContract]:
    deployer = Account.create()
    chain = EmbeddedChain(funded_accounts={deployer.address: 10**21}, chain_id=1337)
    server = BackgroundServer(create_rpc_app(chain), host="127.0.0.1", port=0).start()
    try:
        w3 = connect(server.url)
        yield SwarmContract.deploy(w3=w3, account=deployer, sentinel_file_url="http://sentinel")
    finally:
        server.stop()


def test_deployed_code_matches_the_artifact(deployed: SwarmContract) -> None:
    code = bytes(deployed.w3.eth.get_code(deployed.address))
    assert code, "no code at the deployed address"
    assert "0x" + code.hex() == load_artifact(CONTRACT_NAME)["deployedBytecode"]
    assert deployed.code_matches_artifact()


def test_code_check_refuses_an_address_without_our_contract(deployed: SwarmContract) -> None:
    # An account with no code at all (the deployer's own address)...
    assert deployed.account is not None
    no_code = SwarmContract(w3=deployed.w3, address=deployed.account.address)
    assert not no_code.code_matches_artifact()
    # ...and a fresh address nobody has used.
    nowhere = SwarmContract(w3=deployed.w3, address=Account.create().address)
    assert not nowhere.code_matches_artifact()
    # ...and another contract: a tiny one whose runtime code returns 42.
    runtime = bytes.fromhex("602a60005260206000f3")
    init = bytes.fromhex("69") + runtime + bytes.fromhex("600052600a6016f3")
    w3, account = deployed.w3, deployed.account
    tx = {
        "data": "0x" + init.hex(),
        "gas": 100_000,
        "gasPrice": w3.eth.gas_price,
        "nonce": w3.eth.get_transaction_count(account.address),
        "chainId": w3.eth.chain_id,
    }
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    other = SwarmContract(w3=w3, address=receipt["contractAddress"])
    assert bytes(w3.eth.get_code(other.address)) == runtime
    assert not other.code_matches_artifact()
