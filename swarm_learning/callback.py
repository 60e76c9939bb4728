"""`SwarmCallback`: the few calls a PyTorch training loop makes to join a swarm.

Thin on purpose: it counts batches and converts between the model and flat weight arrays;
the sync protocol does the rest. Every argument may also come from the environment that
`swarm sl` prepares, so one program runs unchanged on every site. HPE Swarm Learning's
parameters are accepted under their names (README, "HPE's parameters").
"""

from __future__ import annotations

import json
import logging
from typing import Any

import torch

from swarm_learning import after_stop
from swarm_learning.adaptive_sync import AdaptiveSchedule
from swarm_learning.evaluation import Evaluation, pop_evaluation
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
from swarm_network.errors import ConfigError, ContractRevert

log = logging.getLogger(__name__)

FINAL_MODEL_FILE = "final_model.safetensors"
STEPS_FILE = "sync_steps.jsonl"


def check_common(
    settings: LearnerSettings, evaluation: Evaluation | None, platforms: tuple[str, ...]
) -> None:
    """The checks every callback makes of what it was given, before anything starts."""
    if settings.ml_platform not in platforms:
        raise ConfigError(
            f"ml_platform (mlPlatform) {settings.ml_platform} does not fit this callback "
            f"(it serves {'/'.join(platforms)}): PYTORCH uses swarm_learning.SwarmCallback, "
            "KERAS and TF use swarm_learning.keras.SwarmCallback"
        )
    if settings.use_adaptive_sync and (evaluation is None or evaluation.loss is None):
        raise ConfigError(
            "use_adaptive_sync (useAdaptiveSync) needs validation data and a loss: pass "
            "adsValData (lossFunction too if metricFunction is given)"
        )
    if settings.use_adaptive_sync and settings.sync_frequency == SYNC_EVERY_EPOCH:
        raise ConfigError(
            "use_adaptive_sync (useAdaptiveSync) starts from one agreed number of batches: "
            "give sync_frequency (syncFrequency) as a number, not 'epoch'"
        )


def pick_logger(settings: dict[str, Any]) -> logging.Logger:
    """HPE's `logger` parameter: where the callback's own messages go (`callback.logger`)."""
    given = settings.pop("logger", None)
    if given is None:
        return log
    if not isinstance(given, logging.Logger):
        raise ConfigError(f"logger must be a logging.Logger, got {given!r}")
    return given


class SwarmCallback:
    #: the `ml_platform` values this callback serves (the Keras one serves KERAS and TF)
    PLATFORMS: tuple[str, ...] = ("PYTORCH",)

    def __init__(self, model: torch.nn.Module, **settings: Any) -> None:
        self.model = model
        self.logger = pick_logger(settings)
        evaluation, settings = pop_evaluation(settings)  # lossFunction, adsValData...
        self.settings = LearnerSettings.resolve(
            {k: v for k, v in settings.items() if v is not None}
        )
        check_common(self.settings, evaluation, self.PLATFORMS)
        self.evaluation = evaluation
        assert self.settings.model_dir is not None
        self._log_handlers = attach_log_handlers(
            self.settings.model_dir / f"{self.settings.program_name}_sw.log"
        )
        self.node = LearnerNode(self.settings)
        self.metrics = MetricsReporter(
            account=self.node.account,
            sn_url=self.settings.sn_url,
            evaluation=evaluation,
            training=self.settings.training_contract,
        )
        # One JSON line per sync step (timings, participants): for people, demos, benchmarks.
        self._steps_path = self.settings.model_dir / STEPS_FILE
        self._rounds: RoundContext | None = None
        self._schedule: AdaptiveSchedule | None = None
        self._batches = 0  # local batches so far
        self._since_sync = 0  # local batches since the last sync
        self._epoch_began_at = 0  # self._batches when the current epoch began
        #: This learner's own batches per epoch, measured at its first `on_epoch_end`.
        self.batches_per_epoch: int | None = None
        #: Batches until the next sync (or "epoch"); adaptive sync changes it after each step.
        self.sync_interval: int | str = self.settings.sync_frequency
        self.history: list[RoundResult] = []
        self._merged: dict | None = None
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

    def _sync_now(self, contribution: dict | None = None) -> None:
        """One sync step from the model (or from `contribution`, a stopped learner's snapshot,
        in which case the merge is not loaded)."""
        assert self._rounds is not None
        self.metrics.before_sync(self.model)
        arrays = self._arrays() if contribution is None else contribution
        merged, result = run_round(self._rounds, arrays, self._last_round)
        self._merged = merged  # what `result.merged_hash` names, loaded into the model or not
        metrics, timings = self.metrics.after_sync(result)
        if contribution is None:
            self._load(merged)
        self.history.append(result)
        self._since_sync = 0
        if self._schedule is not None:
            self._adapt(result, merged_loaded=contribution is None)
        # The round's record, with its wall-clock times (started_at, ended_at: Unix seconds),
        # the local training time before it (train_s), the step's figures (metrics) and the
        # interval until the next sync.
        row = {
            **json.loads(result.to_json()),
            **timings,
            "metrics": metrics,
            "next_interval": self.sync_interval,
        }
        with self._steps_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    def _adapt(self, result: RoundResult, *, merged_loaded: bool) -> None:
        """Adaptive sync: report the merged model's validation loss, then take the interval
        the swarm's agreed figures give (`adaptive_sync`)."""
        assert self._schedule is not None and self._rounds is not None
        me = self.node.address
        if merged_loaded and me in result.participants and self.evaluation is not None:
            loss = self.evaluation.run(self.model).get("val_loss")
            if loss is not None:
                try:
                    self._rounds.contract.report_validation(result.step, loss)
                except ContractRevert as exc:
                    self.logger.info("validation of step %d not reported: %s", result.step, exc)
        before = self.sync_interval
        self.sync_interval = self._schedule.interval_after(result.step)
        if self.sync_interval != before:
            self.logger.info(
                "adaptive sync: %d batches between syncs after step %d (was %s)",
                self.sync_interval,
                result.step,
                before,
            )

    def on_train_begin(self) -> None:
        """Join, agree on the settings, and sync once so every node starts from one model."""
        self.node.start()
        self._rounds = self.node.round_context(WeightSchema.from_arrays(self._arrays()))
        if self.settings.use_adaptive_sync:
            self._schedule = AdaptiveSchedule(self._rounds.contract, self.settings.sync_frequency)
        self._sync_now()

    def on_batch_end(self, batch: int | None = None) -> None:
        self._batches += 1
        self._since_sync += 1
        if not self.syncs_every_epoch and self._since_sync >= int(self.sync_interval):
            self._sync_now()

    def on_epoch_end(self, epoch: int | None = None) -> None:
        """With `sync_frequency="epoch"` the step comes here: the period is this learner's
        own number of batches per epoch, so sites with more or less data need no arithmetic
        (and may use other values than their peers). Progress is logged, and with
        `total_epochs` sent as the figure `progress` (0-1)."""
        in_epoch = self._batches - self._epoch_began_at
        self._epoch_began_at = self._batches
        if self.batches_per_epoch is None and in_epoch:
            self.batches_per_epoch = in_epoch
            if self.syncs_every_epoch:
                self.logger.info("syncing once per epoch: every %d local batches", in_epoch)
        if self.syncs_every_epoch and self._since_sync:
            self._sync_now()
        total = self.settings.total_epochs
        if total and epoch is not None:
            if epoch > total:
                self.logger.warning("epoch %d is past total_epochs=%d", epoch, total)
            self.metrics.log(progress=min(1.0, epoch / total))
        self.logger.info(
            "epoch %s%s done, %d sync steps so far",
            epoch,
            f"/{total}" if total else "",
            self.steps_done,
        )

    def _after_stop(self) -> None:
        """Until no learner is training: what `checkin_model_on_train_end` says (`after_stop`)."""
        assert self._rounds is not None
        mode = self.settings.checkin_model_on_train_end
        snapshot = self._arrays() if mode == "snapshot" else None
        if self._since_sync > 0:  # the last batches' work, in a last step of its own
            self._sync_now(contribution=snapshot)  # a snapshot keeps its weights, not the merge
        if mode == "inactive":
            return
        after_stop.mark_stopped(self._rounds)
        timeout_s = self.settings.final_timeout_s
        while after_stop.await_training_step(self._rounds, timeout_s=timeout_s) is not None:
            self._sync_now(contribution=snapshot)

    def on_train_end(self) -> None:
        """Last merge, the swarm's verdict on it, and the final model in the model dir."""
        assert self._rounds is not None
        try:
            self._after_stop()
            # The last merge, not a snapshot's own weights: the final model is a merge.
            last_merged = self._arrays() if self._merged is None else self._merged
            final, self.final_model_hash = finish_training(
                self._rounds, last_merged, self._last_round
            )
            self._load(final)
            model_dir = self.settings.model_dir
            assert model_dir is not None
            model_dir.mkdir(parents=True, exist_ok=True)
            (model_dir / FINAL_MODEL_FILE).write_bytes(encode_weights(final))
            self.logger.info(
                "final model %s saved to %s", self.final_model_hash, model_dir / FINAL_MODEL_FILE
            )
        finally:
            self.metrics.close()
            self.node.stop()
            detach_log_handlers(self._log_handlers)
