"""Validation figures the callback computes itself at every sync step when a program passes
HPE's parameters: `lossFunction` / `lossFunctionArgs`, `metricFunction` /
`metricFunctionArgs`, `adsValData`, `adsValBatchSize` (snake_case works too).

They are computed on the weights this learner is about to contribute (its local training since
the last merge), so that each learner's curve shows its own model, not the shared merge.
Evaluation reads the model in eval mode without gradients, and whatever random numbers a data
loader draws come from a forked generator, so the training and the merged bytes are what they
would be without it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from swarm_network.errors import ConfigError

EVALUATION_NAMES = {
    "lossFunction": "loss_function",
    "lossFunctionArgs": "loss_function_args",
    "metricFunction": "metric_function",
    "metricFunctionArgs": "metric_function_args",
    "adsValData": "ads_val_data",
    "adsValBatchSize": "ads_val_batch_size",
}
DEFAULT_BATCH_SIZE = 32
#: accepted for torchmetrics-style calls; the number of classes is read from the outputs
IGNORED_ACCURACY_ARGS = ("num_classes", "task")

Batches = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]
Scorer = Callable[[torch.Tensor, torch.Tensor], Any]


def accuracy(outputs: torch.Tensor, targets: torch.Tensor, threshold: float = 0.5) -> float:
    """Top-1 accuracy for class scores (N, C); for one output per sample, output > threshold."""
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        predicted = outputs.argmax(dim=1)
    else:
        predicted = (outputs.reshape(-1) > threshold).to(targets.dtype)
    return float((predicted == targets.reshape(predicted.shape)).float().mean().item())


def mean_absolute_error(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    return float((outputs.reshape(targets.shape) - targets).abs().float().mean().item())


def mean_squared_error(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    return float(((outputs.reshape(targets.shape) - targets).float() ** 2).mean().item())


#: metric names (case-insensitive; torchmetrics' class names too) -> (reported name, function)
BUILTIN_METRICS: dict[str, tuple[str, Callable[..., float]]] = {
    "accuracy": ("accuracy", accuracy),
    "multiclassaccuracy": ("accuracy", accuracy),
    "binaryaccuracy": ("accuracy", accuracy),
    "mae": ("mae", mean_absolute_error),
    "meanabsoluteerror": ("mae", mean_absolute_error),
    "mse": ("mse", mean_squared_error),
    "meansquarederror": ("mse", mean_squared_error),
}


@dataclass(frozen=True)
class Evaluation:
    batches: Batches
    loss: Scorer | None
    metric: Scorer | None
    metric_name: str

    @torch.no_grad()
    def run(self, model: torch.nn.Module) -> dict[str, float]:
        """`val_loss` (mean over samples) and `val_<metric>` of `model` on the validation data."""
        was_training = model.training
        model.eval()
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        outputs, targets = [], []
        loss_sum, count = 0.0, 0
        try:
            with torch.random.fork_rng(devices=[]):
                for x, y in self.batches():
                    x, y = x.to(device), y.to(device)
                    out = model(x)
                    if self.loss is not None:
                        loss_sum += float(self.loss(out, y)) * len(y)
                    count += len(y)
                    if self.metric is not None:
                        outputs.append(out)
                        targets.append(y)
        finally:
            model.train(was_training)
        if count == 0:
            raise ConfigError("adsValData holds no samples")
        values = {}
        if self.loss is not None:
            values["val_loss"] = loss_sum / count
        if self.metric is not None:
            values[f"val_{self.metric_name}"] = float(
                self.metric(torch.cat(outputs), torch.cat(targets))
            )
        return values


def pop_evaluation(settings: dict[str, Any]) -> tuple[Evaluation | None, dict[str, Any]]:
    """Take the evaluation parameters out of the callback's keyword arguments."""
    rest = dict(settings)
    found: dict[str, Any] = {}
    for name in list(rest):
        key = EVALUATION_NAMES.get(name, name)
        if key in EVALUATION_NAMES.values():
            value = rest.pop(name)
            if key in found:
                raise ConfigError(f"setting {key!r} given twice (as {name!r})")
            if value is not None:
                found[key] = value
    loss, metric = found.get("loss_function"), found.get("metric_function")
    if loss is None and metric is None:
        return None, rest  # adsValData alone (HPE's adaptive sync): nothing to compute
    if "ads_val_data" not in found:
        raise ConfigError("lossFunction / metricFunction need validation data: pass adsValData")
    batch_size = found.get("ads_val_batch_size", DEFAULT_BATCH_SIZE)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"adsValBatchSize must be a positive integer, got {batch_size!r}")
    metric_fn, metric_name = (None, "")
    if metric is not None:
        metric_fn, metric_name = _metric(metric, found.get("metric_function_args") or {})
    return (
        Evaluation(
            batches=_batches(found["ads_val_data"], batch_size),
            loss=None if loss is None else _loss(loss, found.get("loss_function_args") or {}),
            metric=metric_fn,
            metric_name=metric_name,
        ),
        rest,
    )


def _args(raw: object, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} must be a dict of keyword arguments, got {raw!r}")
    return raw


def _loss(spec: object, raw_args: object) -> Scorer:
    args = _args(raw_args, "lossFunctionArgs")
    if isinstance(spec, str):
        cls = getattr(torch.nn, spec, None)
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module) and "Loss" in spec):
            raise ConfigError(f"lossFunction {spec!r} is not a loss of torch.nn (e.g. MSELoss)")
        spec = cls
    if isinstance(spec, type):
        try:
            return spec(**args)
        except TypeError as exc:
            raise ConfigError(f"lossFunctionArgs do not fit {spec.__name__}: {exc}") from exc
    if callable(spec):
        return functools.partial(spec, **args) if args else spec
    raise ConfigError(f"lossFunction must be a torch.nn loss name or a callable, got {spec!r}")


def _metric(spec: object, raw_args: object) -> tuple[Scorer, str]:
    args = _args(raw_args, "metricFunctionArgs")
    if isinstance(spec, str):
        found = BUILTIN_METRICS.get(spec.lower())
        if found is None:
            known = ", ".join(sorted({name for name, _ in BUILTIN_METRICS.values()}))
            raise ConfigError(f"unknown metricFunction {spec!r}; known: {known}, or a callable")
        name, fn = found
        allowed = {"threshold", *IGNORED_ACCURACY_ARGS} if fn is accuracy else set()
        unknown = sorted(set(args) - allowed)
        if unknown:
            raise ConfigError(f"metricFunctionArgs {unknown} do not apply to {spec!r}")
        used = {k: v for k, v in args.items() if k not in IGNORED_ACCURACY_ARGS}
        return functools.partial(fn, **used), name
    if callable(spec):
        name = getattr(spec, "__name__", type(spec).__name__).lower()
        return (functools.partial(spec, **args) if args else spec), name
    raise ConfigError(f"metricFunction must be a name or a callable, got {spec!r}")


def _batches(data: object, batch_size: int) -> Batches:
    if isinstance(data, tuple) and len(data) == 2:
        x = torch.as_tensor(np.asarray(data[0]) if not torch.is_tensor(data[0]) else data[0])
        y = torch.as_tensor(np.asarray(data[1]) if not torch.is_tensor(data[1]) else data[1])
        if len(x) != len(y):
            raise ConfigError(f"adsValData: {len(x)} inputs but {len(y)} targets")
        if x.dtype == torch.float64:
            x = x.float()
        return lambda: (
            (x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)
        )
    if isinstance(data, torch.utils.data.Dataset):
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
        return lambda: iter(loader)
    if isinstance(data, Iterable) and iter(data) is not data:
        return lambda: iter(data)  # e.g. a DataLoader: read again at every step
    raise ConfigError(
        "adsValData must be an (x, y) tuple, a torch Dataset or a re-iterable of (x, y) "
        "batches such as a DataLoader (a generator can be read only once)"
    )
