"""The floor of what one sync step must do for a model, measured on this machine (no chain,
no waiting): encode (safetensors) and hash (sha256) the learner's model, fetch the other P-1
contributions from a file server on loopback (verified, as a step must), and the weighted
mean of the P models as one numpy product over a preallocated stack. Our own merge of the
same files (`merge_step`: every file checked in full, then streamed) is timed beside it."""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.wire.task import build_model
from swarm_learning.merge import Contributor, OwnModel, choose_merge, merge_step
from swarm_learning.weights import WeightSchema, encode_weights, state_dict_to_arrays
from swarm_network.files.fetch import Fetcher
from swarm_network.files.server import BackgroundServer, create_file_app
from swarm_network.files.store import FileStore

REPEATS = 5


def step_floor(params: int, peers: int) -> dict[str, float]:
    """Median seconds of each part, and their sum (`floor_s`)."""
    arrays = state_dict_to_arrays(build_model(params).state_dict())
    schema = WeightSchema.from_arrays(arrays)
    others = [
        {k: v + np.float32(0.01 * (i + 1)) for k, v in arrays.items()} for i in range(peers - 1)
    ]
    parts: dict[str, list[float]] = {
        "encode_s": [], "hash_s": [], "download_s": [], "mean_s": [], "our_merge_s": []
    }  # fmt: skip
    stack = np.empty((peers, schema.num_elements), dtype=np.float32)
    weights = np.full(peers, 1.0 / peers, dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="wire-floor-") as tmp:
        served = FileStore(Path(tmp) / "served")
        hashes = [served.put_bytes(encode_weights(o)) for o in others]
        with BackgroundServer(create_file_app(served)) as server:
            for repeat in range(REPEATS):
                started = time.perf_counter()
                encoded = encode_weights(arrays)
                encoded_at = time.perf_counter()
                own_hash = hashlib.sha256(encoded).hexdigest()
                hashed_at = time.perf_counter()
                store = FileStore(Path(tmp) / f"client{repeat}")
                with Fetcher(store, timeout_s=60) as fetcher:
                    fetched_at = time.perf_counter()
                    files = fetcher.fetch_many([(server.url, h) for h in hashes])
                    fetched_at, fetch_started = time.perf_counter(), fetched_at
                contributors = [
                    Contributor(f"0x{i:040x}", h, 1.0) for i, h in enumerate([own_hash, *hashes])
                ]
                merge_started = time.perf_counter()
                merge_step(
                    contributors,
                    {h: p for h, p in files.items() if isinstance(p, Path)},
                    own=OwnModel(own_hash, arrays),
                    schema=schema,
                    choice=choose_merge("mean", {}),
                )
                merged_at = time.perf_counter()
                for row, model in enumerate([arrays, *others]):
                    stack[row] = np.concatenate([model[k].reshape(-1) for k in schema.names])
                mean_started = time.perf_counter()
                weights @ stack
                parts["mean_s"].append(time.perf_counter() - mean_started)
                parts["encode_s"].append(encoded_at - started)
                parts["hash_s"].append(hashed_at - encoded_at)
                parts["download_s"].append(fetched_at - fetch_started)
                parts["our_merge_s"].append(merged_at - merge_started)
    medians = {k: statistics.median(v) for k, v in parts.items()}
    medians["floor_s"] = sum(medians[k] for k in ("encode_s", "hash_s", "download_s", "mean_s"))
    return medians
