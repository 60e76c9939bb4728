"""End to end, concurrent trainings (HPE's `trainingContract`): one sentinel, one SN node and
two trainings of two learners each running at the same time, as `swarm sl` processes of
tests/hpe_program.py. Each training ends with its own agreed model; the REST API and
`swarm status` and the dashboard (in headless Chromium) list both and show each one's own
members only."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from hpe_swarm import ENV, PROGRAM, TIMEOUT_S

from swarm_learning.demo.local_swarm import LocalSwarm, NodeProcess

#: learner -> (training, which node it joins through, its data seed)
LEARNERS = {
    "a1": ("alpha", "sentinel", 1),
    "a2": ("alpha", "sn", 2),
    "b1": ("beta", "sentinel", 3),
    "b2": ("beta", "sn", 4),
}


def _get(url: str, **params: Any) -> Any:
    response = requests.get(url, params=params, timeout=30)
    assert response.status_code == 200, (url, response.status_code, response.text)
    return response.json()


def _status(sn_url: str, training: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "swarm_network.cli.main", "status", "--sn", sn_url,
         "--training", training],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass(frozen=True)
class TwoTrainings:
    sentinel: str
    sn: str
    members: dict[str, set[str]]  # training -> its learners' addresses
    finals: dict[str, set[str]]  # training -> the final model hash(es) its learners ended with


@pytest.fixture(scope="module")
def two_trainings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoTrainings]:
    """Both trainings run at once, to their end; the nodes keep serving for the tests."""
    swarm = LocalSwarm(work_dir=tmp_path_factory.mktemp("two-trainings"))
    try:
        swarm.environment.update(ENV)
        sentinel = swarm.start_sentinel()
        sn = swarm.start_sn()
        procs: dict[str, NodeProcess] = {}
        for name, (training, via, seed) in LEARNERS.items():
            procs[name] = swarm._spawn(
                name,
                [
                    "sl", "--sn", sentinel if via == "sentinel" else sn,
                    "--program", str(PROGRAM), "--training", training,
                    "--node-dir", str(swarm.learner_dir(name)),
                    "--file-host", "127.0.0.1", "--file-port", "0",
                    "--", "--epochs", "2", "--batches", "8", "--seed", str(seed),
                ],
            )  # fmt: skip
        finished = swarm.wait(list(procs.values()), TIMEOUT_S)
        assert finished, {n: p.log_tail() for n, p in procs.items()}
        for process in procs.values():
            assert process.popen.returncode == 0, process.log_tail()
        results = {
            name: json.loads((swarm.learner_dir(name) / "model" / "result.json").read_text())
            for name in LEARNERS
        }

        def of(training: str, field: str) -> set[str]:
            return {results[n][field] for n, (t, _, _) in LEARNERS.items() if t == training}

        yield TwoTrainings(
            sentinel=sentinel,
            sn=sn,
            members={t: of(t, "address") for t in ("alpha", "beta")},
            finals={t: of(t, "final_model_hash") for t in ("alpha", "beta")},
        )
    finally:
        swarm.stop()


def test_each_training_ends_with_its_own_model(two_trainings: TwoTrainings) -> None:
    finals = two_trainings.finals
    assert all(len(hashes) == 1 and None not in hashes for hashes in finals.values()), finals
    assert finals["alpha"] != finals["beta"]


@pytest.mark.parametrize("node", ["sentinel", "sn"])
def test_rest_lists_the_trainings_and_keeps_them_apart(
    two_trainings: TwoTrainings, node: str
) -> None:
    url = two_trainings.sentinel if node == "sentinel" else two_trainings.sn
    members, finals = two_trainings.members, two_trainings.finals
    listed = {t["name"]: t for t in _get(f"{url}/v1/trainings")["trainings"]}
    # The sentinel's own training first, then the others in the order they started,
    # which is whichever learner's join the sentinel admitted first.
    assert list(listed)[0] == "default"
    assert sorted(list(listed)[1:]) == ["alpha", "beta"]
    assert listed["default"]["learners"] == 0
    assert listed["alpha"]["contract_address"] != listed["beta"]["contract_address"]
    for training in ("alpha", "beta"):
        entry = listed[training]
        assert entry["learners"] == 2 and entry["state"] == "done", entry
        assert entry["latest_agreed_hash"] in finals[training]
        chain = _get(f"{url}/v1/chain", training=training)
        assert chain["contract_address"] == entry["contract_address"]
        nodes = _get(f"{url}/v1/nodes", training=training)["nodes"]
        assert {n["address"] for n in nodes if n["role"] == "learner"} == members[training]
        for step in _get(f"{url}/v1/steps", training=training, limit=100)["steps"]:
            assert {p["address"] for p in step["participants"]} <= members[training]
        # Metrics went to each learner's own training (relayed between the two nodes).
        documents = _get(f"{url}/v1/metrics", training=training)["documents"]
        assert documents and {d["address"] for d in documents} == members[training]
    assert [n for n in _get(f"{url}/v1/nodes")["nodes"] if n["role"] == "learner"] == []
    missing = requests.get(f"{url}/v1/training", params={"training": "gamma"}, timeout=30)
    assert missing.status_code == 404 and "gamma" in missing.json()["error"]
    bad = requests.get(f"{url}/v1/training", params={"training": "a b"}, timeout=30)
    assert bad.status_code == 400


def test_swarm_status_shows_the_chosen_training(two_trainings: TwoTrainings) -> None:
    shown = _status(two_trainings.sn, "beta")
    assert "trainings:" in shown and "*beta" in shown and "alpha" in shown
    for address in two_trainings.members["beta"]:
        assert address in shown
    for address in two_trainings.members["alpha"]:
        assert address not in shown


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_dashboard_selects_a_training(two_trainings: TwoTrainings) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{two_trainings.sn}/")
            page.wait_for_function(
                "() => document.querySelectorAll('#training-select option').length === 3"
            )
            options = page.eval_on_selector_all(
                "#training-select option", "os => os.map(o => o.value)"
            )
            listed = _get(f"{two_trainings.sn}/v1/trainings")["trainings"]
            assert options == [t["name"] for t in listed]
            assert sorted(options) == ["alpha", "beta", "default"]
            page.select_option("#training-select", "alpha")  # the page loads for alpha
            page.wait_for_url("**training=alpha**")
            rows = "#nodes tbody tr[data-address]"
            page.wait_for_function(
                f"() => document.querySelectorAll('{rows}').length === 4"
            )  # the two learners, the sentinel and the SN node
            shown = set(page.eval_on_selector_all(rows, "rs => rs.map(r => r.dataset.address)"))
            assert two_trainings.members["alpha"] <= shown
            assert not two_trainings.members["beta"] & shown
            assert page.locator("#state").inner_text() == "done"
            assert page.locator("#training-select").input_value() == "alpha"
            assert errors == []
        finally:
            browser.close()
