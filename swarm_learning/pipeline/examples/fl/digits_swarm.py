"""The document's FLSwarm as the tests and the README measure it on the digits: the same
modules and graph, with more local training per iteration (`epochs`), a validation-accuracy
threshold for the scheduler, a cap on iterations, and optionally agreeing aggregators.

`AgreedFLSwarm` is the variant beyond the document: every worker node also runs the
aggregator (`method="all"`, `agree=True`), and the iteration goes on with the merged model
that a strict majority of them produced, the trust model of the SwarmCallback sync step.
"""

from pathlib import Path

from fl_swarm import FLSwarm

from swarm_learning.pipeline import Module


class DigitsFLSwarm(FLSwarm):
    def __init__(
        self,
        n_workers: int = 3,
        epochs: int = 20,
        threshold: float = 0.96,
        max_iterations: int = 30,
        task_timeout_s: int = 60,
    ):
        super().__init__(n_workers=n_workers)
        self.max_iterations = max_iterations
        self.task_timeout_s = task_timeout_s
        self.set_global(
            "hyperparameters",
            {
                "epochs": epochs,
                "batch_size": 32,
                "loss": "CrossEntropyLoss",
                "loss_params": {},
                "optimizer": "SGD",
                "optimizer_params": {"lr": 0.01, "momentum": 0.9},
            },
        )
        self.set_global("stopping", {"accuracy": threshold})


class AgreedFLSwarm(DigitsFLSwarm):
    def __init__(self, n_workers: int = 3, epochs: int = 20, threshold: float = 0.96, **settings):
        super().__init__(n_workers=n_workers, epochs=epochs, threshold=threshold, **settings)
        self.aggregator = Module(
            Path("modules/aggregator.py"),
            "fl-pytorch-mnist:latest",
            method="all",
            maximum=n_workers,
            alias="aggregator",
            agree=True,
        )
