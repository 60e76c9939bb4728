"""A Keras learner program for tests/test_e2e_keras.py (not a test module): HPE's Keras shape,
`model.fit(..., callbacks=[swarm_callback])`, on a third of scikit-learn's digits.

    --part I         which third of the training digits this node holds (0, 1, 2)
    --epochs N       epochs
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from swarm_learning.keras import SwarmCallback, keras

TEST_SAMPLES = 297


def main() -> int:
    parser = argparse.ArgumentParser(prog="keras_program")
    parser.add_argument("--part", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    x_train, y_train = x[:-TEST_SAMPLES][args.part :: 3], y[:-TEST_SAMPLES][args.part :: 3]
    x_test, y_test = x[-TEST_SAMPLES:], y[-TEST_SAMPLES:]
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    swarm_callback = SwarmCallback(
        syncFrequency=8,
        minPeers=3,
        mlPlatform="KERAS",
        totalEpochs=args.epochs,
        adsValData=(x_test, y_test),
        adsValBatchSize=128,
        lossFunction="CrossEntropyLoss",
        metricFunction="accuracy",
    )
    model.fit(
        x_train, y_train, batch_size=32, epochs=args.epochs, callbacks=[swarm_callback], verbose=0
    )
    scores = keras.ops.convert_to_numpy(model(x_test))
    accuracy = float((np.argmax(scores, axis=1) == y_test).mean())
    result = {"final_model_hash": swarm_callback.final_model_hash, "accuracy": accuracy}
    Path(os.environ["SWARM_MODEL_DIR"], "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
