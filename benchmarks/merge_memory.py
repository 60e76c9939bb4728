"""Memory and time of one merge for a large model: does the streaming mean really keep a
learner's memory flat in the number of peers, and what do the robust methods cost?

For a model of `--params` float32 parameters (default 25M = 100 MB, in a few big tensors) and
P peer contributions (default 2, 4, 8) stored as safetensors files, it measures:

- for each method of `swarm_learning.merge`, what a learner runs at the end of a sync step
  (`merge_step`): every file checked in full (layout, schema, NaN/Inf) without
  being decoded, then read again in pieces as the method needs them, merged and converted
  back to tensors. The time is all of that; the extra peak RSS is what it needed.
  - `mean` streams the files into its float64 running sum: flat in P.
  - `coordmedian` and `trimmedmean` go block by block through the coordinates, reading each
    file's slice: the merged float64 vector plus P small blocks, flat in P as well.
  - `geomedian`, `krum` and `multikrum` need whole rows (distances between models), so they
    hold the (P, n) float64 stack: P x n x 8 bytes.

Each configuration runs in a fresh subprocess, because a process's peak RSS never goes down:
the worker notes its current RSS after its imports (the baseline), runs, and reports the peak
(VmHWM) minus that baseline. Contributions are one random base model plus small per-peer
noise, like models of one swarm after a few local batches (that matters for geomedian's
iteration count and Krum's scores, not for memory).

Every worker has a time limit (`--timeout`), so the whole run stays within a few minutes.
trimmedmean cuts one row at each end (beta = 1/P; none at P=2), krum and multikrum use f=1.
The mean's float64 sum is 2x the float32 model; converting it back needs one tensor more, so
with this benchmark's layout (one tensor is two thirds of the model) it peaks near 2.9x, and
near 2.2x for a model of many smaller tensors.

Usage: python benchmarks/merge_memory.py [--params N] [--peers 2 4 8] [--methods ...]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MB = 1_000_000
METHODS = ("mean", "coordmedian", "geomedian", "trimmedmean", "krum", "multikrum")


def method_params(method: str, peers: int) -> dict[str, object]:
    """Parameters as a swarm with one attacker would set them. trimmedmean cuts one row at
    each end (beta = 1/P) so that its sort is measured; with P=2 nothing can be cut (beta must
    stay below 0.5), so it is the plain mean there."""
    if method == "trimmedmean":
        return {"beta": 1.0 / peers if peers >= 3 else 0.0}
    if method in ("krum", "multikrum"):
        return {"f": 1}
    return {}


NOISE = 0.01  # per-peer deviation from the base model, relative to the weights' scale


def tensor_shapes(n_params: int) -> dict[str, tuple[int, ...]]:
    """A few big tensors (two thirds, one third, plus a small bias) totalling `n_params`."""
    bias = min(4096, max(1, n_params // 1000))
    rest = n_params - bias
    first = (2 * rest) // 3
    return {
        "layer1.weight": (first,),
        "layer2.weight": (rest - first,),
        "layer2.bias": (bias,),
    }


def write_contributions(directory: Path, n_params: int, peers: int, seed: int = 0) -> list[Path]:
    """`peers` safetensors files: one shared random base plus small independent noise each."""
    from swarm_learning.weights import encode_weights

    rng = np.random.default_rng(seed)
    shapes = tensor_shapes(n_params)
    base = {name: rng.standard_normal(shape, dtype=np.float32) for name, shape in shapes.items()}
    paths = []
    for peer in range(peers):
        arrays = {
            name: value + NOISE * rng.standard_normal(value.shape, dtype=np.float32)
            for name, value in base.items()
        }
        path = directory / f"peer{peer}.safetensors"
        path.write_bytes(encode_weights(arrays))
        paths.append(path)
        del arrays
    return paths


# ------------------------------------------------------------------------------ worker side


def _status_bytes(field: str) -> int:
    """A memory figure of this process from /proc/self/status (Linux reports it in kB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("this benchmark needs Linux's /proc/self/status")


def _peak_rss_bytes() -> int:
    """This process's peak RSS so far. Not `ru_maxrss`: Linux carries that over exec from the
    process that spawned us, so a worker would report the driver's own peak (the driver has
    just written P model files) instead of its own; VmHWM belongs to this program alone."""
    return _status_bytes("VmHWM")


def _current_rss_bytes() -> int:
    """The process's RSS now. The baseline must be this, not the peak: the imports' own
    temporary allocations may have pushed the peak above the current RSS, and new
    allocations would then fill that gap unseen, understating what the merge needs."""
    return _status_bytes("VmRSS")


def _learner_merge(method: str, files: list[Path]) -> float:
    """What a learner runs at the end of a step (`merge_step`): every file checked, then read
    in pieces as the method needs, merged and unflattened; returns seconds."""
    from swarm_learning.merge import Contributor, OwnModel, choose_merge, merge_step

    started = time.perf_counter()
    schema = _schema_of(files[0])
    contributors = [Contributor(f"0x{row:040x}", path.name, 1.0) for row, path in enumerate(files)]
    merged = merge_step(
        contributors,
        {path.name: path for path in files},
        own=OwnModel("", {}),
        schema=schema,
        choice=choose_merge(method, method_params(method, len(files))),
    )
    elapsed = time.perf_counter() - started
    assert len(merged.merged_from) == len(files) and not merged.refused
    del merged
    return elapsed


def _schema_of(path: Path):  # -> WeightSchema; the import must stay inside the worker
    """The model's schema, from the file's header alone (a learner knows it already)."""
    from safetensors import safe_open

    from swarm_learning.weights import TensorSpec, WeightSchema

    with safe_open(str(path), framework="numpy") as opened:
        specs = []
        for name in sorted(opened.keys()):
            sliced = opened.get_slice(name)
            dtype = {"F32": "float32", "F64": "float64", "F16": "float16"}[sliced.get_dtype()]
            specs.append(TensorSpec(name, tuple(sliced.get_shape()), dtype))
    return WeightSchema(tuple(specs))


def worker(method: str, files: list[Path]) -> dict[str, float]:
    """Run one configuration in this (fresh) process and report its figures. The imports
    belong to the baseline; neither loads torch (a real learner has torch loaded on top)."""
    import swarm_learning.merge  # noqa: F401
    import swarm_learning.weights  # noqa: F401

    gc.collect()
    baseline = _current_rss_bytes()
    merge_s = _learner_merge(method, files)
    return {
        "baseline_rss": baseline,
        "extra_peak_rss": _peak_rss_bytes() - baseline,
        "merge_s": merge_s,
    }


# ------------------------------------------------------------------------------ driver side


def run_worker(method: str, files: list[Path], timeout_s: float) -> dict[str, float] | str:
    """The worker's figures, or a short reason why there are none."""
    command = [sys.executable, __file__, "--worker", method, *map(str, files)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"timeout>{timeout_s:.0f}s"
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["?"]
        return f"failed: {tail[0]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=int, default=25_000_000, help="float32 parameters")
    parser.add_argument("--peers", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per worker")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.files)))
        return 0

    from swarm_network.text_table import table

    model_bytes = args.params * 4
    started = time.monotonic()
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="merge-memory-") as tmp:
        print(
            f"writing {max(args.peers)} contributions of {model_bytes / MB:.0f} MB ...",
            file=sys.stderr,
            flush=True,
        )
        files = write_contributions(Path(tmp), args.params, max(args.peers))
        for peers in args.peers:
            for method in args.methods:
                outcome = run_worker(method, files[:peers], args.timeout)
                if isinstance(outcome, str):
                    rows.append([peers, method, outcome, "-", "-"])
                else:
                    extra = outcome["extra_peak_rss"]
                    rows.append(
                        [
                            peers,
                            method,
                            f"{outcome['merge_s']:.2f}",
                            f"{extra / MB:.0f}",
                            f"{extra / model_bytes:.1f}",
                        ]
                    )
                print(f"done: P={peers} {method}: {rows[-1][2:]}", file=sys.stderr, flush=True)
    print(
        f"\nmodel: {args.params:,} float32 parameters = {model_bytes / MB:.0f} MB "
        f"(one float64 row: {2 * model_bytes / MB:.0f} MB); "
        "extra RSS = peak minus the worker's baseline after imports"
    )
    print(
        table(
            ["P", "method", "merge s", "extra peak RSS MB", "x model"],
            rows,
        )
    )
    print(f"\nbenchmark took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
