"""`swarm_learning.keras.SwarmCallback`: HPE's Keras callback, a `keras.callbacks.Callback`
for `model.fit(..., callbacks=[cb])`, on Keras 3. With the torch backend (the default this
module sets when `KERAS_BACKEND` is unset) no TensorFlow is needed; the TensorFlow backend
works where it is installed (weights travel as numpy arrays either way).

The sync protocol is the PyTorch callback's (`swarm_learning.callback`): this class only
converts between the Keras model's weights and named arrays, and maps Keras' hooks onto it.
HPE's parameters are the same; `mlPlatform` defaults to KERAS here.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402  (after the backend is chosen)

from swarm_learning.callback import SwarmCallback as _TorchCallback  # noqa: E402


def keras_arrays(model: keras.Model) -> dict[str, np.ndarray]:
    """The model's weights by position and path (paths alone may repeat across models)."""
    return {
        f"{i:04d}/{w.path}": np.array(keras.ops.convert_to_numpy(w.value))
        for i, w in enumerate(model.weights)
    }


class _KerasCore(_TorchCallback):
    """The protocol side, reading and writing a Keras model's weights."""

    PLATFORMS = ("KERAS", "TF")

    def _arrays(self) -> dict:
        return keras_arrays(self.model)

    def _load(self, arrays: dict) -> None:
        self.model.set_weights([arrays[name] for name in sorted(arrays)])


class SwarmCallback(keras.callbacks.Callback):
    def __init__(self, **settings: Any) -> None:
        super().__init__()
        if "mlPlatform" not in settings and "ml_platform" not in settings:
            settings["ml_platform"] = "KERAS"
        self.swarm = _KerasCore(None, **settings)  # type: ignore[arg-type]  # set by fit

    @property
    def logger(self) -> Any:
        return self.swarm.logger

    @property
    def final_model_hash(self) -> str | None:
        return self.swarm.final_model_hash

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.swarm.model = self.model
        self.swarm.on_train_begin()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if logs and "loss" in logs:
            self.swarm.log_metrics(loss=float(logs["loss"]))
        self.swarm.on_batch_end(batch)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.swarm.on_epoch_end(epoch + 1)  # Keras counts epochs from 0, HPE's loops from 1

    def on_train_end(self, logs: dict | None = None) -> None:
        self.swarm.on_train_end()
