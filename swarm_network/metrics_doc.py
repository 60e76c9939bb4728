"""A learner's figures for one sync step, as a small JSON document signed with the learner's
own key (the key that signs its check-ins), so that any node can check who sent them without
trusting the nodes that relayed them (README, "Metrics").

Learners sign; SN nodes verify and relay. The signed text is the document's canonical JSON
(sorted keys, no spaces), so a relay that re-encodes the JSON cannot break the signature, and
one that changes a single figure does.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError

from swarm_network.errors import AdmissionError, InvalidRequest

METRICS_KIND = "swarm-metrics/1"
SIGNED_PREFIX = "swarm-metrics\n"
MAX_METRICS = 32
MAX_STEP = 2**63
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
SIGNATURE_RE = re.compile(r"^(0x)?[0-9a-fA-F]{130}$")
#: The step's timings: wall-clock start and end (unix seconds), the local training since the
#: previous step, and the four phases of the sync step itself.
TIMING_NAMES = (
    "started_at",
    "ended_at",
    "train_s",
    "check_in_s",
    "wait_s",
    "transfer_s",
    "merge_s",
)


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _numbers(raw: object, what: str, *, names: tuple[str, ...] | None) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise InvalidRequest(f"{what} must be a JSON object")
    if names is None and len(raw) > MAX_METRICS:
        raise InvalidRequest(f"{what}: at most {MAX_METRICS} values per step")
    if names is not None and set(raw) != set(names):
        raise InvalidRequest(f"{what} must hold exactly {', '.join(names)}")
    out: dict[str, float] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise InvalidRequest(f"{what}: {name!r} is not a valid name ([A-Za-z_][A-Za-z0-9_.]*)")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRequest(f"{what}.{name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InvalidRequest(f"{what}.{name} must be finite")
        out[name] = float(value)
    return out


@dataclass(frozen=True)
class MetricsDocument:
    address: str
    step: int
    metrics: dict[str, float]
    timings: dict[str, float]
    signature: str

    def body(self) -> dict[str, Any]:
        """Everything the signature covers."""
        return {
            "kind": METRICS_KIND,
            "address": self.address,
            "step": self.step,
            "metrics": self.metrics,
            "timings": self.timings,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "signature": self.signature}

    @property
    def key(self) -> tuple[str, int]:
        return (self.address.lower(), self.step)

    @classmethod
    def from_json(cls, raw: object) -> MetricsDocument:
        """Check the shape of an untrusted document (not yet its signature: `verify`)."""
        if not isinstance(raw, dict):
            raise InvalidRequest("a metrics document must be a JSON object")
        if raw.get("kind") != METRICS_KIND:
            raise InvalidRequest(f"a metrics document needs kind {METRICS_KIND!r}")
        expected = {"kind", "address", "step", "metrics", "timings", "signature"}
        if set(raw) != expected:
            raise InvalidRequest(f"a metrics document has exactly the fields {sorted(expected)}")
        address, step, signature = raw["address"], raw["step"], raw["signature"]
        if not isinstance(address, str) or not ADDRESS_RE.fullmatch(address):
            raise InvalidRequest("address must be 0x followed by 40 hex digits")
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < MAX_STEP:
            raise InvalidRequest("step must be a non-negative integer")
        if not isinstance(signature, str) or not SIGNATURE_RE.fullmatch(signature):
            raise InvalidRequest("signature must be 65 bytes of hex")
        return cls(
            address=address,
            step=step,
            metrics=_numbers(raw["metrics"], "metrics", names=None),
            timings=_numbers(raw["timings"], "timings", names=TIMING_NAMES),
            signature=signature,
        )

    def signer(self) -> str:
        """The address whose key made the signature."""
        message = encode_defunct(text=SIGNED_PREFIX + _canonical(self.body()))
        try:
            return str(Account.recover_message(message, signature=self.signature))
        except (ValueError, TypeError, ValidationError, BadSignature) as exc:
            raise InvalidRequest("metrics signature is malformed") from exc

    def verify(self) -> None:
        """Raises AdmissionError unless the document was signed by the key of `address`."""
        if self.signer().lower() != self.address.lower():
            raise AdmissionError("metrics document was not signed by the key of its address")


def sign_metrics(
    account: LocalAccount, *, step: int, metrics: dict[str, float], timings: dict[str, float]
) -> MetricsDocument:
    unsigned = MetricsDocument(
        address=account.address,
        step=step,
        metrics={k: float(v) for k, v in metrics.items()},
        timings={k: float(v) for k, v in timings.items()},
        signature="",
    )
    message = encode_defunct(text=SIGNED_PREFIX + _canonical(unsigned.body()))
    signature = account.sign_message(message).signature.hex()
    document = MetricsDocument.from_json({**unsigned.body(), "signature": signature})
    return document
