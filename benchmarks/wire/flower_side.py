"""Flower's side of `benchmarks/vs_flower.py`, in its fastest mode here (the legacy
`start_server` / `start_client` over gRPC): a FedAvg server and its clients, running the
same task (`task.py`) as our learners.

``python -m benchmarks.wire.flower_side server --params N --rounds R --clients P --out F``
``python -m benchmarks.wire.flower_side client --params N --part I --parts P --address A``

The server writes F: for each round, when it asked for fits and when it had aggregated
them (wall clock), each client's own training time, and the final accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")

import flwr  # noqa: E402
import torch  # noqa: E402
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402

from benchmarks.wire.task import (  # noqa: E402
    accuracy,
    build_model,
    load_part,
    load_weights,
    optimiser,
    train_batches,
    weights_of,
)


class TimedFedAvg(FedAvg):
    """FedAvg (sample-weighted mean, as ours) that notes when each round starts and ends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rounds: list[dict[str, Any]] = []
        self.final: list[Any] | None = None

    def configure_fit(self, server_round, parameters, client_manager):  # type: ignore[no-untyped-def]
        self.rounds.append({"asked": time.time()})
        return super().configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(self, server_round, results, failures):  # type: ignore[no-untyped-def]
        aggregated = super().aggregate_fit(server_round, results, failures)
        self.rounds[-1].update(
            aggregated=time.time(),
            train_s=[float(fit.metrics["train_s"]) for _, fit in results],
            failures=len(failures),
        )
        self.final = aggregated[0]
        return aggregated


class DigitsClient(flwr.client.NumPyClient):
    def __init__(self, params: int, part: int, parts: int) -> None:
        self.model = build_model(params)
        self.opt = optimiser(self.model)
        self.X, self.y = load_part(part, parts)

    def get_parameters(self, config):  # type: ignore[no-untyped-def]
        return weights_of(self.model)

    def fit(self, parameters, config):  # type: ignore[no-untyped-def]
        load_weights(self.model, parameters)
        started = time.perf_counter()
        for _ in train_batches(self.model, self.opt, self.X, self.y):
            pass
        train_s = time.perf_counter() - started
        return weights_of(self.model), len(self.X), {"train_s": train_s}


def serve(args: argparse.Namespace) -> None:
    model = build_model(args.params)
    strategy = TimedFedAvg(
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=args.clients,
        min_available_clients=args.clients,
        initial_parameters=ndarrays_to_parameters(weights_of(model)),
    )
    flwr.server.start_server(
        server_address=args.address,
        config=flwr.server.ServerConfig(num_rounds=args.rounds),
        strategy=strategy,
    )
    assert strategy.final is not None
    load_weights(model, parameters_to_ndarrays(strategy.final))
    Path(args.out).write_text(json.dumps({"rounds": strategy.rounds, "accuracy": accuracy(model)}))


def run_client(args: argparse.Namespace) -> None:
    client = DigitsClient(args.params, args.part, args.parts)
    flwr.client.start_client(server_address=args.address, client=client.to_client(), insecure=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("--params", type=int, required=True)
    parser.add_argument("--address", default="127.0.0.1:8080")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--part", type=int, default=0)
    parser.add_argument("--parts", type=int, default=3)
    parser.add_argument("--out", default="flower.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.role == "server":
        serve(args)
    else:
        run_client(args)


if __name__ == "__main__":
    main()
