"""One exception tree for the whole project, so callers can catch `SwarmError` at an edge
(REST handler, CLI, sync loop) and turn it into a clear message instead of a traceback."""

import errno
from collections.abc import Mapping


class SwarmError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(SwarmError):
    """A setting is missing, malformed, or disagrees with what the swarm already uses."""


class ChainError(SwarmError):
    """The chain could not be reached, or answered something we cannot use."""


class ChainUnavailable(ChainError):
    """The chain endpoint could not be reached (down, restarting, network trouble)."""


class ContractRevert(ChainError):
    """The contract refused a transaction or call.

    `reason` is readable text for logs, REST and CLI messages; `error` and `arguments` are the
    contract's custom error as the ABI names it (None and {} when the revert was not one).
    """

    def __init__(
        self,
        reason: str,
        *,
        error: str | None = None,
        arguments: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.arguments: dict[str, object] = dict(arguments or {})


class StepNotOpen(ContractRevert):
    """The step a learner checked in for is closed (or not open yet): it must catch up."""


class StaleBase(ContractRevert):
    """A check-in named a base model that is neither the agreed one nor acceptable late work."""


class AlreadyCheckedIn(ContractRevert):
    """This learner is in the open step already: an earlier run of it checked in, then died."""


class TrainingEnded(ContractRevert):
    """The training has ended on chain: no step runs any more; adopt its final model."""


class AlreadyConfigured(ContractRevert):
    """Another learner configured the training first: compare with its settings instead."""


class InvalidRequest(SwarmError):
    """A request from a client or peer is malformed (missing field, wrong type or format)."""


class AdmissionError(SwarmError):
    """A node was refused admission (wrong or missing join token, bad request)."""


class InvalidWeights(SwarmError):
    """A weight file is corrupt, tampered with, or does not fit the model's schema."""


class HashMismatch(InvalidWeights):
    """Downloaded bytes do not hash to the sha256 committed on chain."""


class PeerUnavailable(SwarmError):
    """A peer's file server could not deliver a file in time."""


class InvalidPipeline(SwarmError):
    """A pipeline (swarm) definition is refused: a cycle, an unknown alias, a module without
    `main`/`run`, a global that cannot be serialised, a missing file, a bad setting."""


class TaskRefused(SwarmError):
    """A task's input (a module archive, global or result) is missing or does not match the
    hash the chain holds for it: it is refused and never used."""


class PortInUse(ConfigError):
    """A listener's port is taken (another node on this machine, or any other program). The
    command line adds which of its flags chooses another (swarm_network/cli/messages.py)."""

    def __init__(self, listener: str, host: str, port: int) -> None:
        super().__init__(f"{listener}: port {port} on {host} is already in use")
        self.listener, self.host, self.port = listener, host, port


def listen_error(listener: str, host: str, port: int, exc: OSError) -> OSError | PortInUse:
    """What a failed bind becomes: `PortInUse` for a taken port, else an OSError naming the
    listener (a bad host, no permission for a low port)."""
    if exc.errno == errno.EADDRINUSE:
        return PortInUse(listener, host, port)
    return OSError(f"{listener}: cannot listen on {host}:{port}: {exc}")
