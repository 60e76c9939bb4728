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

from swarm_network.chain import SwarmContract
from swarm_network.errors import AdmissionError, InvalidRequest

log = logging.getLogger(__name__)

JOIN_ROLES = ("learner", "network")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
MAX_URL_LENGTH = 512
DEFAULT_FUNDING_WEI = 10 * 10**18


def join_message(address: str, role: str, file_url: str) -> str:
    """The text a node signs to prove it owns `address`; binds role and URL too."""
    return f"swarm-join\naddress:{address.lower()}\nrole:{role}\nfile_url:{file_url}"


def sign_join(account: Account, role: str, file_url: str) -> str:
    message = encode_defunct(text=join_message(account.address, role, file_url))
    return account.sign_message(message).signature.hex()


@dataclass(frozen=True)
class JoinRequest:
    address: str
    role: str
    file_url: str
    signature: str
    token: str

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
        return cls(**fields)


class Admission:
    """Sentinel-side enrolment. Blocking (it sends transactions): call it from a thread."""

    def __init__(
        self, *, contract: SwarmContract, join_token: str, funding_wei: int = DEFAULT_FUNDING_WEI
    ) -> None:
        self._contract = contract
        self._token = join_token.encode()
        self._funding_wei = funding_wei
        self._lock = threading.Lock()

    def admit(self, request: JoinRequest) -> dict[str, object]:
        if not hmac.compare_digest(request.token.encode(), self._token):
            log.warning("refused join of %s: wrong join token", request.address)
            raise AdmissionError("wrong join token: ask the swarm's operator for the token")
        try:
            signer = Account.recover_message(
                encode_defunct(text=join_message(request.address, request.role, request.file_url)),
                signature=request.signature,
            )
        except (ValueError, TypeError, ValidationError, BadSignature) as exc:
            raise InvalidRequest("join signature is malformed") from exc
        if signer.lower() != request.address.lower():
            raise AdmissionError("join signature was not made by the key of that address")
        with self._lock:
            existing = self._contract.node(request.address)
            if existing.role != "none":
                if existing.role != request.role:
                    raise AdmissionError(
                        f"address is already enrolled as a {existing.role}, not a {request.role}"
                    )
                log.info("node %s rejoined (already enrolled)", request.address)
                return {"address": existing.address, "enrolled": False, "rejoined": True}
            self._contract.enroll(request.address, request.role, request.file_url)
            self._contract.send_value(request.address, self._funding_wei)
        log.info("enrolled %s %s", request.role, request.address)
        return {"address": signer, "enrolled": True, "rejoined": False}
