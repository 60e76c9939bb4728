"""HPE Swarm Learning's callback parameters, one by one: each under its HPE name and its
snake_case name, each doing what HPE documents, and each bad value refused at construction
with one message that names it (README, "HPE's parameters"). No swarm runs here: the callback
is only built (and closed); what the parameters do in a running swarm is tested end to end in
tests/test_e2e_hpe.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from swarm_learning.adaptive_sync import MAX_FACTOR, next_interval
from swarm_learning.callback import SwarmCallback
from swarm_learning.evaluation import default_loss, pop_evaluation
from swarm_learning.node import detach_log_handlers
from swarm_learning.settings import LearnerSettings
from swarm_network.errors import ConfigError

PAIRS = [
    ("syncFrequency", "sync_frequency", 7, 7),
    ("minPeers", "min_peers", 3, 3),
    ("nodeWeightage", "node_weightage", 100, 100),
    ("totalEpochs", "total_epochs", 5, 5),
    ("useAdaptiveSync", "use_adaptive_sync", "true", True),
    ("checkinModelOnTrainEnd", "checkin_model_on_train_end", "ACTIVE", "active"),
    ("trainingContract", "training_contract", "defaultbb.cqdb.sml.hpe", "default"),
    ("mlPlatform", "ml_platform", "pytorch", "PYTORCH"),
]


def resolve(**settings: Any) -> LearnerSettings:
    return LearnerSettings.resolve(settings, environ={})


@pytest.mark.parametrize(("camel", "snake", "given", "stored"), PAIRS)
def test_both_spellings_set_the_same_setting(
    camel: str, snake: str, given: object, stored: object
) -> None:
    assert getattr(resolve(**{camel: given}), snake) == stored
    assert getattr(resolve(**{snake: given}), snake) == stored
    with pytest.raises(ConfigError, match="given twice"):
        resolve(**{camel: given, snake: given})


def test_defaults_are_hpes() -> None:
    settings = resolve()
    assert settings.checkin_model_on_train_end == "snapshot"
    assert settings.use_adaptive_sync is False
    assert settings.ml_platform == "PYTORCH"
    assert settings.training_contract == "default"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"syncFrequency": 0}, "sync_frequency must be at least 1"),
        ({"syncFrequency": "often"}, 'sync_frequency must be a number of batches or "epoch"'),
        ({"minPeers": 0}, "min_peers must be at least 1"),
        ({"nodeWeightage": 0}, r"nodeWeightage\) must be an integer from 1 to 100, got 0"),
        ({"nodeWeightage": 101}, r"from 1 to 100, got 101"),
        ({"nodeWeightage": 2.5}, "node_weightage must be an integer"),
        ({"totalEpochs": 0}, r"totalEpochs\) must be a positive integer"),
        ({"useAdaptiveSync": "maybe"}, "use_adaptive_sync must be true or false"),
        ({"checkinModelOnTrainEnd": "frozen"}, "inactive, snapshot, active, got 'frozen'"),
        ({"mlPlatform": "JAX"}, "PYTORCH, KERAS, TF, got 'JAX'"),
        ({"trainingContract": "a b"}, r"trainingContract\) must be 1-64 letters"),
        ({"trainingContract": ""}, r"trainingContract\) must be 1-64 letters"),
        ({"syncFreq": 4}, "unknown setting"),
    ],
)
def test_out_of_range_values_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(**settings)


def test_environment_names_a_training_and_flags_read_as_text() -> None:
    settings = LearnerSettings.resolve({"use_adaptive_sync": "0"}, environ={"SWARM_TRAINING": "t1"})
    assert settings.training_contract == "t1" and settings.use_adaptive_sync is False


# ------------------------------------------------------------------ the callback itself


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Any]:
    """`built(**settings)`: a SwarmCallback made offline (nothing joins); closed after."""
    made: list[SwarmCallback] = []

    def build(**settings: Any) -> SwarmCallback:
        cb = SwarmCallback(
            torch.nn.Linear(2, 2), node_dir=tmp_path / f"n{len(made)}", join_token="t", **settings
        )
        made.append(cb)
        return cb

    yield build
    for cb in made:
        cb.metrics.close()
        detach_log_handlers(cb._log_handlers)


VAL = (torch.randn(8, 2), torch.tensor([0, 1] * 4))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"mlPlatform": "KERAS"}, "swarm_learning.keras.SwarmCallback"),
        ({"useAdaptiveSync": True}, "needs validation data and a loss"),
        (
            {"useAdaptiveSync": True, "adsValData": VAL, "metricFunction": "accuracy"},
            "needs validation data and a loss",
        ),
        ({"logger": "mylog"}, "logger must be a logging.Logger"),
        ({"adsValBatchSize": 4}, "need validation data"),
    ],
)
def test_callback_refuses_what_it_cannot_do(built: Any, settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        built(**settings)


def test_adaptive_sync_with_validation_data_is_accepted(built: Any) -> None:
    cb = built(useAdaptiveSync=True, adsValData=VAL, adsValBatchSize=4, syncFrequency=6)
    assert cb.settings.use_adaptive_sync and cb.sync_interval == 6
    assert cb.evaluation is not None and cb.evaluation.loss is default_loss


def test_logger_is_callback_logger_and_gets_its_messages(
    built: Any, caplog: pytest.LogCaptureFixture
) -> None:
    mine = logging.getLogger("my.program")
    cb = built(logger=mine, totalEpochs=4)
    assert cb.logger is mine
    with caplog.at_level(logging.INFO, logger="my.program"):
        cb.on_epoch_end(2)
    assert any(r.name == "my.program" and "epoch 2/4" in r.getMessage() for r in caplog.records)
    assert built().logger.name == "swarm_learning.callback"  # HPE: callback.logger exists


def test_total_epochs_gives_the_progress_figure(built: Any) -> None:
    cb = built(totalEpochs=4)
    cb.on_epoch_end(1)
    cb.on_epoch_end(2)
    assert cb.metrics._sums["progress"] / cb.metrics._counts["progress"] == pytest.approx(0.375)
    assert "progress" not in built().metrics._sums  # without totalEpochs: nothing to show


def test_validation_data_alone_gets_the_default_loss() -> None:
    evaluation, rest = pop_evaluation({"adsValData": VAL, "syncFrequency": 4})
    assert evaluation is not None and rest == {"syncFrequency": 4}
    figures = evaluation.run(torch.nn.Linear(2, 2))
    assert set(figures) == {"val_loss"} and figures["val_loss"] > 0


def test_default_loss_fits_the_task() -> None:
    scores, classes = torch.tensor([[2.0, 0.0]]), torch.tensor([0])
    expected = torch.nn.functional.cross_entropy(scores, classes)
    assert default_loss(scores, classes) == pytest.approx(float(expected))
    assert float(default_loss(torch.tensor([[1.0]]), torch.tensor([3.0]))) == pytest.approx(4.0)


# ------------------------------------------------------------------ the adaptive rule


def test_adaptive_rule() -> None:
    base = 8
    assert next_interval(8, base, 1.0, 0.9) == 16  # improving by 10%: twice as long
    assert next_interval(base * MAX_FACTOR, base, 1.0, 0.5) == base * MAX_FACTOR  # capped
    assert next_interval(8, base, 1.0, 1.1) == 4  # worse by 10%: half as long
    assert next_interval(2, base, 1.0, 2.0) == base // MAX_FACTOR  # floored
    assert next_interval(1, 1, 1.0, 2.0) == 1  # never below one batch
    assert next_interval(8, base, 1.0, 0.99) == 8  # within 2%: unchanged
    assert next_interval(8, base, None, 0.5) == 8  # a step nobody reported: unchanged
