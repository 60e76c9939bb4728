"""Bindings of the contract's functions for stopped learners and adaptive sync
(docs/ARCHITECTURE.md, "HPE's callback parameters"), mixed into `SwarmContract`: kept apart from
the step protocol's bindings because they are an addition to it, not a part of every step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3

#: Validation losses go on chain as whole millionths.
LOSS_SCALE = 1_000_000


@dataclass(frozen=True)
class SyncConfig:
    configured: bool
    sync_frequency: int
    adaptive: bool


@dataclass(frozen=True)
class StepValidation:
    """The validation losses reported for one step's agreed model."""

    mean_loss: float | None  # None: nobody reported
    count: int
    final: bool  # the next step has closed: no report can change it any more


class SyncCalls:
    """Mixed into `SwarmContract`, whose `transact` and `_read` these calls use."""

    transact: Any
    _read: Any

    def configure_sync(self, *, sync_frequency: int, adaptive: bool) -> None:
        self.transact("configureSync", sync_frequency, adaptive)

    def sync_config(self) -> SyncConfig:
        return SyncConfig(
            configured=bool(self._read("syncConfigured")),
            sync_frequency=int(self._read("syncFrequency")),
            adaptive=bool(self._read("adaptiveSync")),
        )

    def mark_stopped(self) -> None:
        self.transact("markStopped")

    def is_stopped(self, address: str) -> bool:
        return bool(self._read("stopped", Web3.to_checksum_address(address)))

    def training_learners(self, step: int) -> int:
        """Learners that may still check in for `step` and have not reached their stop."""
        return int(self._read("trainingLearners", step))

    def report_validation(self, step: int, loss: float) -> None:
        micros = max(0, min(round(loss * LOSS_SCALE), 2**64 - 1))
        self.transact("reportValidation", step, micros, dry_run=False)

    def validation(self, step: int) -> StepValidation:
        total, count, final = self._read("validation", step)
        mean = None if int(count) == 0 else int(total) / int(count) / LOSS_SCALE
        return StepValidation(mean_loss=mean, count=int(count), final=bool(final))
