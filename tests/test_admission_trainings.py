"""The sentinel's admission into named trainings, on a real chain (in-process embedded or
anvil): a training's contract is deployed once, by the first learner to name it, and the
number of trainings is bounded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from chain_helpers import DeployedSwarm
from eth_account import Account

from swarm_network.admission import Admission, JoinRequest, sign_join
from swarm_network.errors import AdmissionError

TOKEN = "the-token"


def join(admission: Admission, training: str, role: str = "learner") -> dict[str, object]:
    account = Account.create()
    url = "http://127.0.0.1:9"
    return admission.admit(
        JoinRequest(
            address=account.address,
            role=role,
            file_url=url,
            signature=sign_join(account, role, url, training),
            token=TOKEN,
            training=training,
        )
    )


def test_a_training_is_deployed_once_and_their_number_is_bounded(
    swarm_factory: Callable[..., DeployedSwarm],
) -> None:
    swarm = swarm_factory(learners=0)
    admission = Admission(contract=swarm.admin, join_token=TOKEN, max_trainings=3)
    first, second = join(admission, "alpha"), join(admission, "alpha")
    assert first["contract_address"] == second["contract_address"] != swarm.admin.address
    assert swarm.admin.named_trainings() == {"alpha": first["contract_address"]}
    network = join(admission, "default", role="network")  # serves every training
    beta = join(admission, "beta")
    for address in (first["contract_address"], beta["contract_address"]):
        assert admission._training_client(address).node(network["address"]).role == "network"
    with pytest.raises(AdmissionError, match="3 trainings, the most it allows"):
        join(admission, "gamma")
    assert set(swarm.admin.named_trainings()) == {"alpha", "beta"}
    assert join(admission, "beta")["contract_address"] == beta["contract_address"]
