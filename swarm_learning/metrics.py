"""What a learner reports per sync step: the figures its program logs
(`cb.log_metrics(loss=...)`, averaged over the step), the validation figures of `evaluation`,
and the step's timings, signed with the learner's key and sent to its SN node, which relays
them to every SN node (README, "Metrics")."""

from __future__ import annotations

import logging
import math
import time

import torch
from eth_account.signers.local import LocalAccount

from swarm_learning.evaluation import Evaluation
from swarm_learning.metrics_publisher import MetricsPublisher
from swarm_learning.round_result import RoundResult
from swarm_network.errors import ConfigError
from swarm_network.metrics_doc import MAX_METRICS, NAME_RE, sign_metrics
from swarm_network.trainings import DEFAULT_TRAINING

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 15.0


class MetricsReporter:
    def __init__(
        self,
        *,
        account: LocalAccount,
        sn_url: str,
        evaluation: Evaluation | None,
        training: str = DEFAULT_TRAINING,
    ) -> None:
        self.account = account
        self.evaluation = evaluation
        self.publisher = MetricsPublisher(sn_url, training)
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._evaluated: dict[str, float] = {}
        self._last_sync_end: float | None = None
        self._sync_start = 0.0
        self._sync_start_wall = 0.0

    def log(self, **values: float) -> None:
        """Values logged between two syncs are averaged into that step's figures."""
        for name, value in values.items():
            if not NAME_RE.fullmatch(name):
                raise ConfigError(f"metric name {name!r} must match [A-Za-z_][A-Za-z0-9_.]*")
            if name not in self._sums and len(self._sums) >= MAX_METRICS:
                raise ConfigError(f"at most {MAX_METRICS} metrics per step")
            number = float(value.item() if isinstance(value, torch.Tensor) else value)
            if not math.isfinite(number):
                log.warning("metric %s is %s: not reported", name, number)
                continue
            self._sums[name] = self._sums.get(name, 0.0) + number
            self._counts[name] = self._counts.get(name, 0) + 1

    def before_sync(self, model: torch.nn.Module) -> None:
        """Right before the weights go to the swarm: evaluate them, start the step's clock."""
        self._evaluated = {} if self.evaluation is None else self.evaluation.run(model)
        self._sync_start = time.monotonic()
        self._sync_start_wall = time.time()

    def after_sync(self, result: RoundResult) -> tuple[dict[str, float], dict[str, float]]:
        """Sign and send the step's figures; returns them (metrics, timings) for the
        learner's own `sync_steps.jsonl`."""
        ended = time.monotonic()
        train_s = 0.0 if self._last_sync_end is None else self._sync_start - self._last_sync_end
        self._last_sync_end = ended
        metrics = {name: self._sums[name] / self._counts[name] for name in self._sums}
        metrics.update(self._evaluated)
        timings = {
            "started_at": self._sync_start_wall,
            "ended_at": self._sync_start_wall + (ended - self._sync_start),
            "train_s": train_s,
            "check_in_s": result.check_in_s,
            "wait_s": result.wait_s,
            "transfer_s": result.transfer_s,
            "merge_s": result.merge_s,
        }
        self._sums, self._counts, self._evaluated = {}, {}, {}
        doc = sign_metrics(self.account, step=result.step, metrics=metrics, timings=timings)
        self.publisher.submit(doc)
        return metrics, timings

    def close(self) -> None:
        self.publisher.close(CLOSE_TIMEOUT_S)
