"""`SwarmCallback`: the few calls a PyTorch training loop makes to join a swarm.

Thin on purpose: it counts batches and converts between the model and flat weight arrays;
the sync protocol does the rest. Every argument may also come from the environment that
`swarm sl` prepares, so one program runs unchanged on every site.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import torch

from swarm_learning.evaluation import pop_evaluation
from swarm_learning.finishing import finish_training
from swarm_learning.metrics import MetricsReporter
from swarm_learning.node import LearnerNode, attach_log_handlers, detach_log_handlers
from swarm_learning.round import run_round
from swarm_learning.round_context import RoundContext
from swarm_learning.round_result import RoundResult
from swarm_learning.settings import SYNC_EVERY_EPOCH, LearnerSettings
from swarm_learning.weights import (
    WeightSchema,
    arrays_to_state_dict,
    encode_weights,
    state_dict_to_arrays,
)

log = logging.getLogger(__name__)

FINAL_MODEL_FILE = "final_model.safetensors"
STEPS_FILE = "sync_steps.jsonl"


class SwarmCallback:
    def __init__(self, model: torch.nn.Module, **settings: Any) -> None:
        self.model = model
        evaluation, settings = pop_evaluation(settings)  # lossFunction, adsValData...
        self.settings = LearnerSettings.resolve(
            {k: v for k, v in settings.items() if v is not None}
        )
        assert self.settings.model_dir is not None
        self._log_handlers = attach_log_handlers(
            self.settings.model_dir / f"{self.settings.program_name}_sw.log"
        )
        self.node = LearnerNode(self.settings)
        self.metrics = MetricsReporter(
            account=self.node.account, sn_url=self.settings.sn_url, evaluation=evaluation
        )
        # One JSON line per sync step (timings, participants): for people, demos, benchmarks.
        self._steps_path = self.settings.model_dir / STEPS_FILE
        self._rounds: RoundContext | None = None
        self._batches = 0  # local batches so far
        self._since_sync = 0  # local batches since the last sync
        self._epoch_began_at = 0  # self._batches when the current epoch began
        #: This learner's own batches per epoch, measured at its first `on_epoch_end`.
        self.batches_per_epoch: int | None = None
        self.history: list[RoundResult] = []
        self.final_model_hash: str | None = None

    @property
    def steps_done(self) -> int:
        return len(self.history)

    @property
    def syncs_every_epoch(self) -> bool:
        return self.settings.sync_frequency == SYNC_EVERY_EPOCH

    @property
    def batches_since_sync(self) -> int:
        """Local batches not yet sent to the swarm: `on_train_end` syncs them if any."""
        return self._since_sync

    def _arrays(self) -> dict:
        return state_dict_to_arrays(self.model.state_dict())

    def _load(self, arrays: dict) -> None:
        self.model.load_state_dict(arrays_to_state_dict(arrays, self.model.state_dict()))

    @property
    def _last_round(self) -> RoundResult | None:
        return self.history[-1] if self.history else None

    def log_metrics(self, **values: float) -> None:
        """Figures of the program's own (e.g. `loss=`): averaged per sync step and shown on
        every SN node's dashboard with this learner's validation figures and timings."""
        self.metrics.log(**values)

    def _sync_now(self) -> None:
        assert self._rounds is not None
        self.metrics.before_sync(self.model)
        merged, result = run_round(self._rounds, self._arrays(), self._last_round)
        metrics, timings = self.metrics.after_sync(result)
        self._load(merged)
        self.history.append(result)
        self._since_sync = 0
        # The round's record, with its wall-clock times (started_at, ended_at: Unix seconds),
        # the local training time before it (train_s) and the step's figures (metrics).
        row = {**json.loads(result.to_json()), **timings, "metrics": metrics}
        with self._steps_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    def on_train_begin(self) -> None:
        """Join, agree on the settings, and sync once so every node starts from one model."""
        self.node.start()
        self._rounds = self.node.round_context(WeightSchema.from_arrays(self._arrays()))
        self._sync_now()

    def on_batch_end(self, batch: int | None = None) -> None:
        self._batches += 1
        self._since_sync += 1
        if not self.syncs_every_epoch and self._since_sync >= self.settings.sync_frequency:
            self._sync_now()

    def on_epoch_end(self, epoch: int | None = None) -> None:
        """With `sync_frequency="epoch"` the step comes here: the period is this learner's
        own number of batches per epoch, so sites with more or less data need no arithmetic
        (and may use other values than their peers)."""
        in_epoch = self._batches - self._epoch_began_at
        self._epoch_began_at = self._batches
        if self.batches_per_epoch is None and in_epoch:
            self.batches_per_epoch = in_epoch
            if self.syncs_every_epoch:
                log.info("syncing once per epoch: every %d local batches", in_epoch)
        if self.syncs_every_epoch and self._since_sync:
            self._sync_now()
        total = self.settings.total_epochs
        log.info(
            "epoch %s%s done, %d sync steps so far",
            epoch,
            f"/{total}" if total else "",
            self.steps_done,
        )

    def on_train_end(self) -> None:
        """Last merge, the swarm's verdict on it, and the final model in the model dir."""
        assert self._rounds is not None
        try:
            if self._since_sync:
                self._sync_now()
            final, self.final_model_hash = finish_training(
                self._rounds, self._arrays(), self._last_round
            )
            self._load(final)
            model_dir = self.settings.model_dir
            assert model_dir is not None
            model_dir.mkdir(parents=True, exist_ok=True)
            (model_dir / FINAL_MODEL_FILE).write_bytes(encode_weights(final))
            log.info(
                "final model %s saved to %s", self.final_model_hash, model_dir / FINAL_MODEL_FILE
            )
        finally:
            self.metrics.close()
            self.node.stop()
            detach_log_handlers(self._log_handlers)
