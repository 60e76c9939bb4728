"""Who may join the swarm: the sentinel enrols a node (on chain, and funds its account for gas)
only when it presents the swarm's join token and proves it holds the key of the address it asks
to enrol. The token is a shared secret: it is compared in constant time and never logged or put
on chain."""

from __future__ import annotations

import hmac
import logging
import re
import threading
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError

from swarm_network.chain import CONTRACT_NAME, SwarmContract
from swarm_network.errors import AdmissionError, InvalidRequest
from swarm_network.trainings import (
    DEFAULT_TRAINING,
    MAX_TRAININGS,
    checked_training_name,
    training_address,
)

log = logging.getLogger(__name__)

JOIN_ROLES = ("learner", "network")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
MAX_URL_LENGTH = 512
DEFAULT_FUNDING_WEI = 10 * 10**18


def join_message(address: str, role: str, file_url: str, training: str) -> str:
    """The text a node signs to prove it owns `address`; binds role, URL and training too."""
    return (
        f"swarm-join\naddress:{address.lower()}\nrole:{role}\nfile_url:{file_url}"
        f"\ntraining:{training}"
    )


def sign_join(account: Account, role: str, file_url: str, training: str = DEFAULT_TRAINING) -> str:
    message = encode_defunct(text=join_message(account.address, role, file_url, training))
    return account.sign_message(message).signature.hex()


@dataclass(frozen=True)
class JoinRequest:
    address: str
    role: str
    file_url: str
    signature: str
    token: str
    training: str = DEFAULT_TRAINING  # which training a learner joins

    @classmethod
    def from_json(cls, body: object) -> JoinRequest:
        if not isinstance(body, dict):
            raise InvalidRequest("join request must be a JSON object")
        fields = {}
        for name in ("address", "role", "file_url", "signature", "token"):
            value = body.get(name)
            if not isinstance(value, str) or not value:
                raise InvalidRequest(f"join request needs a non-empty string field {name!r}")
            fields[name] = value
        if not ADDRESS_RE.fullmatch(fields["address"]):
            raise InvalidRequest("address must be 0x followed by 40 hex digits")
        if fields["role"] not in JOIN_ROLES:
            raise InvalidRequest(f"role must be one of {', '.join(JOIN_ROLES)}")
        if len(fields["file_url"]) > MAX_URL_LENGTH or not fields["file_url"].startswith(
            ("http://", "https://")
        ):
            raise InvalidRequest("file_url must be an http(s) URL of at most 512 characters")
        training = checked_training_name(body.get("training", DEFAULT_TRAINING))
        if fields["role"] == "network" and training != DEFAULT_TRAINING:
            raise InvalidRequest("a network node joins the swarm, not one of its trainings")
        return cls(**fields, training=training)


class Admission:
    """Sentinel-side enrolment. Blocking (it sends transactions): call it from a thread.

    `contract` is the swarm's first contract (the default training and the record of the
    others); a learner that names another training is enrolled in that training's contract,
    deployed here on its first join."""

    def __init__(
        self,
        *,
        contract: SwarmContract,
        join_token: str,
        funding_wei: int = DEFAULT_FUNDING_WEI,
        max_trainings: int = MAX_TRAININGS,
    ) -> None:
        self._contract = contract
        self._token = join_token.encode()
        self._funding_wei = funding_wei
        self._max_trainings = max_trainings
        self._trainings: dict[str, SwarmContract] = {DEFAULT_TRAINING: contract}
        self._lock = threading.Lock()

    def admit(self, request: JoinRequest) -> dict[str, object]:
        if not hmac.compare_digest(request.token.encode(), self._token):
            log.warning("refused join of %s: wrong join token", request.address)
            raise AdmissionError("wrong join token: ask the swarm's operator for the token")
        try:
            signer = Account.recover_message(
                encode_defunct(
                    text=join_message(
                        request.address, request.role, request.file_url, request.training
                    )
                ),
                signature=request.signature,
            )
        except (ValueError, TypeError, ValidationError, BadSignature) as exc:
            raise InvalidRequest("join signature is malformed") from exc
        if signer.lower() != request.address.lower():
            raise AdmissionError("join signature was not made by the key of that address")
        with self._lock:
            training = self._training(request.training)
            where = {"training": request.training, "contract_address": training.address}
            existing = training.node(request.address)
            if existing.role != "none":
                if existing.role != request.role:
                    raise AdmissionError(
                        f"address is already enrolled as a {existing.role}, not a {request.role}"
                    )
                if request.role == "network":
                    self._serve_every_training(existing.address, existing.file_url)
                log.info("node %s rejoined (already enrolled)", request.address)
                return {"address": existing.address, "enrolled": False, "rejoined": True, **where}
            training.enroll(request.address, request.role, request.file_url)
            self._contract.send_value(request.address, self._funding_wei)
            if request.role == "network":
                self._serve_every_training(request.address, request.file_url)
        log.info("enrolled %s %s in training %s", request.role, request.address, request.training)
        return {"address": signer, "enrolled": True, "rejoined": False, **where}

    def _training(self, name: str) -> SwarmContract:
        """The named training's contract: known, recorded on chain, or deployed now (the first
        learner to name it) and recorded. Sent from the sentinel's one key: its sender."""
        known = self._trainings.get(name)
        if known is not None:
            return known
        address = training_address(self._contract, name)
        if address is None:
            count = len(self._contract.named_trainings()) + 1
            if count >= self._max_trainings:
                raise AdmissionError(
                    f"this swarm has {count} trainings, the most it allows: join one of them"
                )
            address = self._contract.deploy_beside(
                CONTRACT_NAME, self._contract.node(self._contract.account.address).file_url
            )
            self._contract.add_training(name, address)
            log.info("training %s started, its contract at %s", name, address)
        contract = self._training_client(address)
        self._trainings[name] = contract
        sentinel = self._contract.account.address
        for node in self._contract.nodes():
            if node.role == "network" and node.address != sentinel:
                self._enrol_network(contract, node.address, node.file_url)
        return contract

    def _training_client(self, address: str) -> SwarmContract:
        return SwarmContract(
            w3=self._contract.w3,
            address=address,
            account=self._contract.account,
            sender=self._contract.sender,
        )

    def _serve_every_training(self, address: str, file_url: str) -> None:
        """Every network node is a network node of every training: learners look for the
        archived models among a training's network nodes, and each SN node archives all."""
        for at in self._contract.named_trainings().values():
            self._enrol_network(self._training_client(at), address, file_url)

    @staticmethod
    def _enrol_network(training: SwarmContract, address: str, file_url: str) -> None:
        if training.node(address).role == "none":
            training.enroll(address, "network", file_url)
