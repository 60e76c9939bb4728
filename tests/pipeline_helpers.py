"""Shared by the pipeline tests: a sentinel and pipeline nodes as real processes on loopback
(through `LocalSwarm`), the digits split into per-node dataset dirs, and waiting on REST."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

from swarm_learning.demo.data import load_split, non_iid_partitions, write_partition, write_test_set
from swarm_learning.demo.local_swarm import LocalSwarm, NodeProcess

FL_DIR = Path(__file__).resolve().parents[1] / "swarm_learning" / "pipeline" / "examples" / "fl"


def digits_datasets(root: Path, n_parts: int, seed: int = 0) -> list[Path]:
    """One dir per node: its non-IID part of the train set and the shared test set."""
    X_train, y_train, X_test, y_test = load_split(seed)
    dirs = []
    for i, (X, y) in enumerate(non_iid_partitions(X_train, y_train, n_parts, seed=seed)):
        directory = root / f"digits{i}"
        write_partition(directory, X, y)
        write_test_set(directory, X_test, y_test)
        dirs.append(directory)
    return dirs


def start_node(swarm: LocalSwarm, name: str, datasets: dict[str, Path]) -> NodeProcess:
    assert swarm.sentinel_rest is not None
    args = ["node", "--sn", swarm.sentinel_rest, "--node-dir", str(swarm.work_dir / name)]
    for dataset, path in datasets.items():
        args += ["--dataset", f"{dataset}={path}"]
    return swarm._spawn(name, args)


def get(url: str, path: str, **params: Any) -> dict[str, Any]:
    response = requests.get(f"{url}{path}", params=params or None, timeout=30)
    response.raise_for_status()
    return response.json()


def wait_for(what: str, check, timeout_s: float, swarm: LocalSwarm, interval_s: float = 0.5):  # type: ignore[no-untyped-def]
    """Poll `check()` until it returns something truthy; on timeout show every log tail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval_s)
    tails = "\n".join(f"--- {p.name}\n{p.log_tail(40)}" for p in swarm.processes)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}\n{tails}")


def wait_workers(swarm: LocalSwarm, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
    assert swarm.sentinel_rest is not None
    url = swarm.sentinel_rest
    return wait_for(
        f"{count} registered workers",
        lambda: (w := get(url, "/v1/pipeline/workers")["workers"]) and len(w) >= count and w,
        timeout_s,
        swarm,
    )


def wait_status(
    swarm: LocalSwarm, swarm_id: int, statuses: tuple[str, ...], timeout_s: float
) -> dict[str, Any]:
    assert swarm.sentinel_rest is not None
    url = swarm.sentinel_rest

    def check() -> dict[str, Any] | None:
        doc = get(url, "/v1/swarms")["swarms"][swarm_id]
        return doc if doc["status"] in statuses else None

    return wait_for(f"swarm {swarm_id} to be {statuses}", check, timeout_s, swarm)


KMEANS_DIR = FL_DIR.parent / "kmeans"
KMEANS_CENTERS = ((-0.6, -0.6), (0.6, -0.5), (0.0, 0.7))


def points_datasets(root: Path, n_parts: int, seed: int = 0) -> list[Path]:
    """Blobs around KMEANS_CENTERS, each node mostly seeing one of them (non-IID)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centers = np.asarray(KMEANS_CENTERS)
    dirs = []
    for i in range(n_parts):
        own = rng.normal(centers[i % 3], 0.08, (160, 2))
        other = rng.normal(centers[(i + 1) % 3], 0.08, (40, 2))
        directory = root / f"points{i}"
        directory.mkdir(parents=True)
        np.save(directory / "points.npy", np.vstack([own, other]))
        dirs.append(directory)
    return dirs


def pipeline_contract(swarm: LocalSwarm):  # type: ignore[no-untyped-def]
    """A read-only client of the pipeline contract, straight on the chain."""
    from swarm_network.chain import connect
    from swarm_network.pipeline.chain import PipelineContract

    assert swarm.sentinel_rest is not None
    chain = get(swarm.sentinel_rest, "/v1/chain")
    address = get(swarm.sentinel_rest, "/v1/pipeline")["contract_address"]
    return PipelineContract(w3=connect(chain["rpc_url"]), address=address)


def deploy(swarm: LocalSwarm, target: str, overrides: dict[str, Any]) -> int:
    """Deploy in this process (the CLI's own code path, without its start-up time)."""
    from swarm_learning.pipeline.client import SwarmClient
    from swarm_learning.pipeline.package import package_target

    assert swarm.sentinel_rest is not None
    client = SwarmClient(
        sn_url=swarm.sentinel_rest,
        key_file=swarm.work_dir / "deployer.key",
        join_token=swarm.join_token,
    )
    return client.deploy(package_target(target, overrides))
