"""The learner's side of metrics: the signed document, the evaluation that HPE's parameters
ask for, and what the store of an SN node accepts. Small hand-computed cases, no processes."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from eth_account import Account

from swarm_learning.evaluation import accuracy, pop_evaluation
from swarm_network.dashboard import CHART_JS_SHA256, STATIC_DIR
from swarm_network.errors import AdmissionError, ConfigError, InvalidRequest
from swarm_network.live.metrics_store import MetricsStore
from swarm_network.metrics_doc import TIMING_NAMES, MetricsDocument, sign_metrics

TIMINGS = dict.fromkeys(TIMING_NAMES, 0.5)
ACCOUNT = Account.from_key("0x" + "11" * 32)


def doc(step: int = 3, **metrics: float) -> MetricsDocument:
    return sign_metrics(ACCOUNT, step=step, metrics=metrics or {"loss": 0.25}, timings=TIMINGS)


# ------------------------------------------------------------------ signed documents


def test_a_signed_document_survives_json_and_names_its_signer() -> None:
    sent = doc(loss=0.25, val_accuracy=0.5)
    received = MetricsDocument.from_json(json.loads(json.dumps(sent.to_json(), indent=3)))
    received.verify()
    assert received.signer() == ACCOUNT.address
    assert received == sent


@pytest.mark.parametrize(
    "change",
    [
        {"metrics": {"loss": 0.24}},
        {"step": 4},
        {"timings": {**TIMINGS, "wait_s": 0.0}},
        {"address": Account.create().address},
    ],
)
def test_any_change_breaks_the_signature(change: dict) -> None:
    tampered = MetricsDocument.from_json({**doc().to_json(), **change})
    with pytest.raises(AdmissionError):
        tampered.verify()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "other"}, "kind"),
        ({"step": -1}, "step"),
        ({"step": True}, "step"),
        ({"address": "0x12"}, "address"),
        ({"signature": "zz"}, "signature"),
        ({"metrics": {"loss": "low"}}, "number"),
        ({"metrics": {"bad name": 1.0}}, "valid name"),
        ({"metrics": {f"m{i}": 1.0 for i in range(33)}}, "at most 32"),
        ({"timings": {"wait_s": 1.0}}, "exactly"),
        ({"extra": 1}, "exactly the fields"),
    ],
)
def test_malformed_documents_are_refused_with_a_reason(change: dict, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        MetricsDocument.from_json({**doc().to_json(), **change})


def test_a_non_finite_value_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="finite"):
        MetricsDocument.from_json({**doc().to_json(), "metrics": {"loss": float("inf")}})


def test_the_store_keeps_one_document_per_learner_and_step() -> None:
    store = MetricsStore()
    assert store.add(doc(step=1, loss=2.0)) is True
    assert store.add(doc(step=1, loss=2.0)) is False  # the same again: a relayed copy
    with pytest.raises(InvalidRequest, match="already reported"):
        store.add(doc(step=1, loss=3.0))
    assert store.add(doc(step=0, loss=4.0)) is True
    assert [row["step"] for row in store.history(ACCOUNT.address.lower())] == [0, 1]
    page, cursor = store.since(1, limit=10)
    assert [d.step for d in page] == [0] and cursor == 2 == store.end
    assert store.step_timings(1) == [{"address": ACCOUNT.address, **TIMINGS}]


# ------------------------------------------------------------------ evaluation


def model() -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return torch.nn.Linear(2, 3)


def test_hpe_parameters_give_validation_loss_and_metric() -> None:
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0], [0.5, 0.5]])
    y = np.array([0, 1, 2, 0, 1])
    evaluation, rest = pop_evaluation(
        {
            "lossFunction": "CrossEntropyLoss",
            "metricFunction": "MulticlassAccuracy",
            "metricFunctionArgs": {"num_classes": 3},
            "adsValData": (x, y),
            "adsValBatchSize": 2,
            "min_peers": 2,
        }
    )
    assert rest == {"min_peers": 2}
    assert evaluation is not None
    m = model()
    with torch.no_grad():
        out = m(torch.as_tensor(x, dtype=torch.float32))
        expected_loss = float(torch.nn.functional.cross_entropy(out, torch.as_tensor(y)))
        expected_acc = float((out.argmax(1) == torch.as_tensor(y)).float().mean())
    before = torch.random.get_rng_state()
    values = evaluation.run(m)
    assert torch.equal(torch.random.get_rng_state(), before)  # training randomness untouched
    assert m.training  # left as it was
    assert values["val_loss"] == pytest.approx(expected_loss, rel=1e-6)
    assert values["val_accuracy"] == pytest.approx(expected_acc)


def test_snake_case_names_a_dataset_and_a_callable_work_too() -> None:
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    dataset = torch.utils.data.TensorDataset(x, torch.tensor([0, 1]))

    def always_half(outputs: torch.Tensor, targets: torch.Tensor) -> float:
        return 0.5

    evaluation, _ = pop_evaluation(
        {"metric_function": always_half, "ads_val_data": dataset, "ads_val_batch_size": 1}
    )
    assert evaluation is not None
    before = torch.random.get_rng_state()
    assert evaluation.run(model()) == {"val_always_half": 0.5}
    assert torch.equal(torch.random.get_rng_state(), before)  # a DataLoader draws a seed


def test_accuracy_by_hand() -> None:
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert accuracy(scores, torch.tensor([0, 1, 1, 1])) == 0.75
    assert accuracy(torch.tensor([0.9, 0.2, 0.7]), torch.tensor([1, 0, 0])) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"lossFunction": "MSELoss"}, "adsValData"),
        ({"lossFunction": "Linear", "adsValData": ([[1.0]], [1.0])}, "not a loss"),
        ({"metricFunction": "f1", "adsValData": ([[1.0]], [1.0])}, "unknown metricFunction"),
        (
            {"metricFunction": "mae", "metricFunctionArgs": {"top_k": 2}, "adsValData": ([1], [1])},
            "do not apply",
        ),
        ({"lossFunction": "MSELoss", "adsValData": ([[1.0]], [1.0, 2.0])}, "targets"),
        ({"lossFunction": "MSELoss", "adsValData": iter([]), "adsValBatchSize": 1}, "generator"),
        ({"lossFunction": "MSELoss", "adsValData": ([1.0], [1.0]), "adsValBatchSize": 0}, "Size"),
        ({"lossFunction": "MSELoss", "loss_function": "L1Loss"}, "twice"),
    ],
)
def test_bad_evaluation_settings_fail_at_start(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        pop_evaluation(settings)


def test_validation_data_alone_asks_for_nothing() -> None:
    """HPE passes adsValData for adaptive sync; without a loss or metric nothing is computed."""
    evaluation, rest = pop_evaluation({"adsValData": ([[1.0]], [1]), "syncFrequency": 4})
    assert evaluation is None and rest == {"syncFrequency": 4}


# ------------------------------------------------------------------ shipped files


def test_the_shipped_chart_library_is_the_pinned_release_with_its_licence() -> None:
    shipped = (STATIC_DIR / "vendor" / "chart.umd.min.js").read_bytes()
    assert hashlib.sha256(shipped).hexdigest() == CHART_JS_SHA256
    assert shipped.startswith(b"/*!\n * Chart.js v4.5.1")
    assert "MIT License" in (STATIC_DIR / "vendor" / "chart.js.LICENSE.md").read_text()
