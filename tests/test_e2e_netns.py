"""End to end on separate hosts: the sentinel, an SN node and three learners, each in its own
network namespace with its own address, joined by a bridge over links shaped to 20 ms round
trip and 1 Gbit/s (tests/netns_lab.py). Nothing runs on 127.0.0.1: every node listens on its
own address (learners on 0.0.0.0) and advertises the one the others must use.

The swarm trains and agrees; learner c's link goes down mid-training: the others go on
without it once the grace period is over and the REST API shows it dropped; its link comes
back, it catches up by itself (same process, same identity) and ends on the same model.

Needs root and iproute2 (`make setup-test` installs it): skipped, saying why, elsewhere.
Run alone with `pytest -m netns`; it is part of the default run where it can run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from churn_helpers import ENV, PROGRAM, sha256_of
from netns_lab import Host, Lab, leftovers, unavailable
from process_helpers import ProcessReaper

# Over two minutes here, and not yet steady (a split vote after the cut link stalled it once):
# run apart, with `pytest -m netns`.
pytestmark = [pytest.mark.netns, pytest.mark.slow]

T = TypeVar("T")
REST, FILES = 30304, 30305  # the default ports: every host has its own
TIMEOUT_S = 60.0
LEARNERS = ("a", "b", "c")
TOKEN = "netns-test-token"


@pytest.fixture
def lab() -> Iterator[Lab]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    lab = Lab()
    try:
        with lab:
            for name in ("sentinel", "sn", *LEARNERS):
                lab.add_host(name)
            yield lab
    finally:
        assert not leftovers(lab.lab_id), leftovers(lab.lab_id)


def wait_for(probe: Callable[[], T | None], what: str, procs: dict[str, Any]) -> T:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited ({proc.returncode}) waiting for {what}")
        try:
            value = probe()
        except requests.RequestException:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {TIMEOUT_S}s waiting for {what}")


def get(url: str) -> Any:
    return requests.get(url, timeout=5).json()


def test_separate_hosts_train_agree_and_a_cut_link_is_dropped_then_catches_up(
    lab: Lab, tmp_path: Path
) -> None:
    hosts = lab.hosts
    env = {**os.environ, **ENV, "SWARM_JOIN_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    env["SWARM_CHAIN_RETRY"] = "120"  # learner c waits out its cut link
    swarm = [sys.executable, "-m", "swarm_network.cli.main"]
    stop_file = tmp_path / "stop-at-step"
    procs: dict[str, subprocess.Popen[Any]] = {}

    def start(name: str, host: Host, args: list[str]) -> None:
        log = (tmp_path / f"{name}.log").open("wb")
        procs[name] = reaper.start(
            host.command(*swarm, *args),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        log.close()

    sentinel_rest = f"http://{hosts['sentinel'].address}:{REST}"
    sn_rest = f"http://{hosts['sn'].address}:{REST}"
    with ProcessReaper() as reaper:
        try:
            start("sentinel", hosts["sentinel"], [
                "sentinel", "--data-dir", str(tmp_path / "sentinel"),
                "--host", hosts["sentinel"].address,
            ])  # fmt: skip
            wait_for(lambda: get(f"{sentinel_rest}/v1/health"), "the sentinel", procs)
            start("sn", hosts["sn"], [
                "sn", "--sentinel", sentinel_rest, "--data-dir", str(tmp_path / "sn"),
                "--host", hosts["sn"].address,
            ])  # fmt: skip
            wait_for(lambda: get(f"{sn_rest}/v1/health"), "the SN node", procs)
            for i, name in enumerate(LEARNERS):
                start(name, hosts[name], [
                    "sl", "--sn", sentinel_rest if name == "a" else sn_rest,
                    "--program", str(PROGRAM), "--node-dir", str(tmp_path / name),
                    "--file-host", "0.0.0.0", "--file-port", str(FILES),
                    "--advertise-host", hosts[name].address,
                    "--", "--steps", "60", "--stop-file", str(stop_file),
                    "--sync-frequency", "4", "--min-peers", "2", "--batch-delay", "0.02",
                    "--data-seed", str(i),
                ])  # fmt: skip
            learners = {n: procs[n] for n in LEARNERS}

            def nodes() -> dict[str, dict[str, Any]]:
                listed = get(f"{sn_rest}/v1/nodes")["nodes"]
                return {n["file_url"]: n for n in listed}

            urls = {n: f"http://{hosts[n].address}:{FILES}" for n in LEARNERS}
            # Each learner advertises its own host's address, as the others must reach it.
            enrolled = wait_for(
                lambda: (found := nodes()) and all(u in found for u in urls.values()) and found,
                "three learners enrolled with their advertised file URLs",
                learners,
            )
            c = enrolled[urls["c"]]["address"]

            def steps_with_all() -> int | None:
                step = get(f"{sentinel_rest}/v1/training")["current_step"]
                if step < 2:
                    return None
                last = get(f"{sentinel_rest}/v1/steps/{step - 1}")
                return step if len(last["participants"]) == 3 else None

            wait_for(steps_with_all, "two steps with all three learners", learners)

            lab.link_down(hosts["c"])
            cut_at = get(f"{sentinel_rest}/v1/training")["current_step"]

            def status_of_c() -> str:
                return get(f"{sentinel_rest}/v1/nodes/{c}")["status"]

            wait_for(lambda: status_of_c() == "dropped", "c to be dropped", learners)

            def closed_without_c() -> int | None:
                step = get(f"{sentinel_rest}/v1/training")["current_step"]
                closed = [get(f"{sentinel_rest}/v1/steps/{k}") for k in range(cut_at + 1, step)]
                done = [s for s in closed if c not in {p["address"] for p in s["participants"]}]
                return step if done else None

            wait_for(closed_without_c, "a step closed by a and b alone", learners)
            lab.link_up(hosts["c"])
            back_at = get(f"{sentinel_rest}/v1/training")["current_step"]

            def c_rejoined() -> int | None:
                record = get(f"{sentinel_rest}/v1/nodes/{c}")
                last = record.get("last_step")
                return last if last is not None and last >= back_at else None

            rejoined_step = wait_for(c_rejoined, "c to check in again", learners)
            stop_file.write_text(str(rejoined_step + 1))
            deadline = time.monotonic() + TIMEOUT_S
            for name, proc in learners.items():
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
                assert proc.returncode == 0, f"{name} exited {proc.returncode}"
        except BaseException:
            for name in procs:
                tail = (tmp_path / f"{name}.log").read_text(errors="replace")[-3000:]
                print(f"--- {name}\n{tail}")
            raise

        results = {
            n: json.loads((tmp_path / n / "model" / "result.json").read_text()) for n in LEARNERS
        }
        finals = {
            n: sha256_of(tmp_path / n / "model" / "final_model.safetensors") for n in LEARNERS
        }
        assert finals == {n: r["final_model_hash"] for n, r in results.items()}
        assert len(set(finals.values())) == 1, finals
        rows = [
            json.loads(line)
            for line in (tmp_path / "c" / "model" / "sync_steps.jsonl").read_text().splitlines()
        ]
        assert any(r["caught_up"] for r in rows if r["step"] > cut_at), "c never caught up"
        print(f"\n[netns] {lab.shaping}; cut at step {cut_at}, back at {back_at}, "
              f"c in again at {rejoined_step}")  # fmt: skip
