"""The live view of a real sentinel and a real SN node (separate processes): REST documents
kept current by chain events, the Server-Sent Events stream, signed metrics posted to one SN
node and relayed to the other, and the dashboard's files.

Two learners are driven by hand through the SN node's /rpc with their own keys, so that the
test chooses exactly what happens on chain: a step with one participant, then a step where one
learner refuses the other's file and reports a different merge (a conflict).
"""

from __future__ import annotations

import hashlib
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import torch
from eth_account import Account
from web3 import Web3
from web3.providers.rpc import HTTPProvider

from swarm_learning.demo.local_swarm import LocalSwarm
from swarm_learning.evaluation import pop_evaluation
from swarm_learning.metrics import MetricsReporter
from swarm_learning.round_result import RoundResult
from swarm_network.admission import sign_join
from swarm_network.chain import SwarmContract
from swarm_network.dashboard import CHART_JS_SHA256
from swarm_network.metrics_doc import sign_metrics
from swarm_network.rest import views

TIMEOUT = 30
WAIT_S = 30.0
HASH_A = "aa" * 32
HASH_B = "bb" * 32
MERGED = "cc" * 32
OTHER_MERGE = "dd" * 32
TIMINGS = {
    "started_at": 1.7e9,
    "ended_at": 1.7e9 + 2,
    "train_s": 1.0,
    "check_in_s": 0.1,
    "wait_s": 0.5,
    "transfer_s": 0.2,
    "merge_s": 0.05,
}


def get(url: str) -> Any:
    response = requests.get(url, timeout=TIMEOUT)
    assert response.status_code == 200, (url, response.status_code, response.text)
    return response.json()


def eventually(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    """The live view follows the chain by polling: give it a few polls (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s}s: {what}")
        time.sleep(0.1)


def read_events(url: str, after: int, until: Callable[[list[dict]], bool]) -> list[dict]:
    """Events from the stream (replayed from `after`), until `until(events)` holds."""
    events: list[dict] = []
    headers = {"Last-Event-ID": str(after)}
    deadline = time.monotonic() + WAIT_S
    with requests.get(f"{url}/v1/stream", headers=headers, stream=True, timeout=WAIT_S) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        current: dict[str, Any] = {}
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("id: "):
                current["id"] = int(line[4:])
            elif line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and "event" in current:
                events.append(current)
                current = {}
                if until(events):
                    return events
            if time.monotonic() > deadline:  # keep-alives come every 15 s
                break
    kinds = sorted({e["event"] for e in events})
    raise AssertionError(f"stream gave {len(events)} events ({kinds}), not what was awaited")


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSwarm]:
    swarm = LocalSwarm(work_dir=tmp_path_factory.mktemp("live-swarm"))
    try:
        swarm.start_sentinel()
        swarm.start_sn()
        yield swarm
    finally:
        swarm.stop()


def join_learner(swarm: LocalSwarm, account: Any) -> SwarmContract:
    file_url = "http://127.0.0.1:9"
    body = {
        "address": account.address,
        "role": "learner",
        "file_url": file_url,
        "signature": sign_join(account, "learner", file_url),
        "token": swarm.join_token,
    }
    response = requests.post(f"{swarm.sn_rest}/v1/join", json=body, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    chain = get(f"{swarm.sn_rest}/v1/chain")
    w3 = Web3(HTTPProvider(f"{swarm.sn_rest}/rpc", request_kwargs={"timeout": TIMEOUT}))
    return SwarmContract(w3=w3, address=chain["contract_address"], account=account)


@pytest.fixture(scope="module")
def learners(swarm: LocalSwarm) -> dict[str, SwarmContract]:
    """Step 0: learner a alone (min_peers 1). Step 1: a and b; a refuses b's file and the two
    report different merges."""
    a = join_learner(swarm, Account.create())
    a.configure_training(
        min_peers=1, grace_seconds=0, merge_method="mean", merge_params="{}", max_staleness=0
    )
    a.check_in(step=0, weight_hash=HASH_A, weightage=1, base_hash="00" * 32)
    b = join_learner(swarm, Account.create())
    a.check_in(step=1, weight_hash=HASH_A, weightage=1, base_hash=MERGED)
    b.check_in(step=1, weight_hash=HASH_B, weightage=1, base_hash=MERGED)
    order = list(a.step(1).participants)
    a.report_merge(1, MERGED, rejected_mask=1 << order.index(b.account.address))
    b.report_merge(1, OTHER_MERGE)
    return {"a": a, "b": b}


@pytest.fixture(params=["sentinel", "sn"])
def node_url(request: pytest.FixtureRequest, swarm: LocalSwarm) -> str:
    url = swarm.sentinel_rest if request.param == "sentinel" else swarm.sn_rest
    assert url is not None
    return url


def step_result(step: int) -> RoundResult:
    return RoundResult(
        step=step,
        participants=(),
        merged_from=(),
        refused=(),
        refused_mask=0,
        method="mean",
        merged_hash=MERGED,
        check_in_s=0.25,
        wait_s=0.5,
        transfer_s=0.125,
        merge_s=0.0625,
        caught_up=False,
    )


# ------------------------------------------------------------------ REST from the view


def test_rest_follows_the_chain(node_url: str, learners: dict[str, SwarmContract]) -> None:
    a, b = learners["a"], learners["b"]
    head = a.block_number()
    eventually(lambda: get(f"{node_url}/v1/chain")["block_number"] == head, "the view at the head")
    training = get(f"{node_url}/v1/training")
    assert training["current_step"] == 2
    assert training["configured"] is True and training["min_peers"] == 1
    assert training["state"] == "training"
    step1 = get(f"{node_url}/v1/steps/1")
    assert step1["closed"] is True
    assert step1["agreed_hash"] is None  # one vote each: no majority of two
    assert step1["conflicting_hashes"] == sorted([MERGED, OTHER_MERGE])
    by_address = {p["address"]: p for p in step1["participants"]}
    assert by_address[b.account.address]["rejected_by"] == [a.account.address]
    assert get(f"{node_url}/v1/steps/0")["agreed_hash"] == MERGED
    node = get(f"{node_url}/v1/nodes/{a.account.address}")
    assert node["role"] == "learner" and node["last_step"] == 1
    assert isinstance(node["last_seen"], int) and node["last_seen"] > 1_600_000_000


def test_view_built_from_events_equals_the_contracts_records(
    node_url: str, learners: dict[str, SwarmContract]
) -> None:
    """What the view rebuilt from events alone is what reading every record gives."""
    contract = learners["a"]
    head = contract.block_number()
    eventually(lambda: get(f"{node_url}/v1/chain")["block_number"] == head, "the view at the head")
    summary = contract.summary()
    nodes = contract.nodes()
    assert summary.block_number == head  # nothing happened in between
    assert get(f"{node_url}/v1/training") == views.training_json(summary, nodes)
    checked_in = set(summary.open_step.participants)
    shown = get(f"{node_url}/v1/nodes")
    assert shown["current_step"] == summary.current_step
    assert [{k: v for k, v in n.items() if k != "last_seen"} for n in shown["nodes"]] == [
        views.node_json(n, summary.current_step, checked_in) for n in nodes
    ]
    steps = get(f"{node_url}/v1/steps?limit=100")["steps"]
    assert [s["step"] for s in steps] == list(range(summary.current_step, -1, -1))
    for doc in steps:
        k = doc["step"]
        assert doc == views.step_json(contract.step(k), contract.contributions(k)), k


def test_a_node_started_later_reads_the_history(
    swarm: LocalSwarm, learners: dict[str, SwarmContract]
) -> None:
    assert swarm.sn_rest is not None
    late = swarm.start_sn("sn-late")
    head = learners["a"].block_number()
    eventually(lambda: get(f"{late}/v1/chain")["block_number"] >= head, "the late node's view")
    for path in ("/v1/steps?limit=100", "/v1/steps/0", "/v1/steps/1"):
        assert get(f"{late}{path}") == get(f"{swarm.sn_rest}{path}"), path

    def without_time(node: dict) -> dict:  # a follower dates a round's events by its last block
        return {k: v for k, v in node.items() if k != "last_seen"}

    early = {n["address"]: n for n in get(f"{swarm.sn_rest}/v1/nodes")["nodes"]}
    for node in get(f"{late}/v1/nodes")["nodes"]:
        assert node["last_seen"] is not None
        if node["address"] in early:  # the late node itself is new
            assert without_time(node) == without_time(early[node["address"]])


def test_missing_and_malformed_are_clear_4xx(node_url: str, learners: dict) -> None:
    unknown = Account.create().address
    for path, status in [
        (f"/v1/nodes/{unknown}", 404),
        (f"/v1/nodes/{unknown}/metrics", 404),
        ("/v1/nodes/0x123", 400),
        ("/v1/steps/99/timings", 404),
        ("/v1/steps/x/timings", 400),
        ("/v1/metrics?since=-1", 400),
        ("/v1/metrics?limit=0", 400),
    ]:
        response = requests.get(f"{node_url}{path}", timeout=TIMEOUT)
        assert response.status_code == status, (path, response.text)
        assert response.json()["status"] == status


def test_events_stream_tells_what_happened(node_url: str, learners: dict) -> None:
    a, b = learners["a"].account.address, learners["b"].account.address
    eventually(lambda: get(f"{node_url}/v1/training")["current_step"] == 2, "step 1 closed")
    wanted = {"configured", "check_in", "quorum", "close", "merge_report", "refusal", "conflict"}
    events = read_events(
        node_url, 0, lambda evs: wanted <= {e["event"] for e in evs} and len(evs) >= 10
    )
    by_type: dict[str, list[dict]] = {}
    for event in events:
        assert event["data"]["type"] == event["event"]
        by_type.setdefault(event["event"], []).append(event["data"])
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {(e["step"], e["address"]) for e in by_type["check_in"]} >= {(1, a), (1, b)}
    assert any(e["step"] == 1 and e["participants"] == 2 for e in by_type["close"])
    assert by_type["refusal"] == [
        {**by_type["refusal"][0], "type": "refusal", "step": 1, "by": a, "refused": [b]}
    ]
    # Two different merges reported for step 1; step 0's single report was no conflict.
    assert [(e["step"], e["hashes"]) for e in by_type["conflict"]] == [
        (1, sorted([MERGED, OTHER_MERGE]))
    ]
    assert all(isinstance(e["time"], int) for e in by_type["check_in"])
    # Resuming after the last id seen replays nothing already seen.
    later = read_events(node_url, ids[-1] - 1, lambda evs: len(evs) >= 1)
    assert later[0]["id"] == ids[-1]


# ------------------------------------------------------------------ metrics


def test_metrics_posted_to_one_node_reach_every_node(
    swarm: LocalSwarm, learners: dict[str, SwarmContract]
) -> None:
    a = learners["a"]
    assert a.account is not None and swarm.sn_rest and swarm.sentinel_rest
    evaluation, rest = pop_evaluation({"min_peers": 1})
    assert evaluation is None and rest == {"min_peers": 1}
    reporter = MetricsReporter(account=a.account, sn_url=swarm.sn_rest, evaluation=None)
    reporter.log(loss=1.0)
    reporter.log(loss=3.0, accuracy=0.5)
    reporter.before_sync(torch.nn.Linear(2, 2))
    reporter.after_sync(step_result(0))
    reporter.close()
    assert reporter.publisher.sent == 1
    for base in (swarm.sn_rest, swarm.sentinel_rest):
        history = eventually(
            lambda base=base: get(f"{base}/v1/nodes/{a.account.address}/metrics")["history"],
            f"metrics on {base}",
        )
        assert [row["step"] for row in history] == [0]
        assert history[0]["metrics"] == {"loss": 2.0, "accuracy": 0.5}  # averaged over the step
        timings = history[0]["timings"]
        assert (timings["check_in_s"], timings["wait_s"], timings["merge_s"]) == (0.25, 0.5, 0.0625)
        assert timings["ended_at"] >= timings["started_at"]
        step0 = get(f"{base}/v1/steps/0/timings")["learners"]
        assert [t["address"] for t in step0] == [a.account.address]
        page = get(f"{base}/v1/metrics")
        doc = next(d for d in page["documents"] if d["address"] == a.account.address)
        assert doc["kind"] == "swarm-metrics/1" and doc["signature"]
    events = read_events(
        swarm.sentinel_rest, 0, lambda evs: any(e["event"] == "metrics" for e in evs)
    )
    relayed = next(e["data"] for e in events if e["event"] == "metrics")
    assert relayed["address"] == a.account.address and relayed["metrics"]["loss"] == 2.0


def post(base: str, doc: dict) -> requests.Response:
    return requests.post(f"{base}/v1/metrics", json=doc, timeout=TIMEOUT)


def test_metrics_that_are_not_the_learners_own_are_refused(
    node_url: str, learners: dict[str, SwarmContract]
) -> None:
    b = learners["b"].account
    assert b is not None
    doc = sign_metrics(b, step=1, metrics={"loss": 0.5}, timings=TIMINGS).to_json()
    first = post(node_url, doc)
    assert first.status_code == 200, first.text
    assert post(node_url, doc).json()["new"] is False  # a copy (relays send those)

    tampered = {**doc, "metrics": {"loss": 0.1}}
    assert post(node_url, tampered).status_code == 403
    other = sign_metrics(b, step=1, metrics={"loss": 0.7}, timings=TIMINGS).to_json()
    assert "already reported" in post(node_url, other).json()["error"]
    stranger = sign_metrics(Account.create(), step=1, metrics={}, timings=TIMINGS).to_json()
    assert "not an enrolled learner" in post(node_url, stranger).json()["error"]
    future = sign_metrics(b, step=50, metrics={}, timings=TIMINGS).to_json()
    assert "not closed yet" in post(node_url, future).json()["error"]
    for bad in (
        {**doc, "metrics": {"loss": "high"}},
        {**doc, "timings": {"train_s": 1.0}},
        {**doc, "extra": 1},
        [doc],
    ):
        response = requests.post(f"{node_url}/v1/metrics", json=bad, timeout=TIMEOUT)
        assert response.status_code == 400, (bad, response.text)
    nan = json.dumps(doc).replace('"loss": 0.5', '"loss": NaN').encode()
    assert requests.post(f"{node_url}/v1/metrics", data=nan, timeout=TIMEOUT).status_code == 400


# ------------------------------------------------------------------ dashboard files


def test_every_node_serves_the_dashboard(node_url: str) -> None:
    page = requests.get(f"{node_url}/", timeout=TIMEOUT)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "/dashboard/vendor/chart.umd.min.js" in page.text
    for path in ("app.js", "api.js", "charts.js", "style.css", "vendor/chart.js.LICENSE.md"):
        assert requests.get(f"{node_url}/dashboard/{path}", timeout=TIMEOUT).status_code == 200
    chart = requests.get(f"{node_url}/dashboard/vendor/chart.umd.min.js", timeout=TIMEOUT)
    assert hashlib.sha256(chart.content).hexdigest() == CHART_JS_SHA256
    assert requests.get(f"{node_url}/dashboard/../rest/app.py", timeout=TIMEOUT).status_code in (
        403,
        404,
    )


# ------------------------------------------------------------------ swarm status --watch


def test_status_watch_redraws_when_something_happens(
    swarm: LocalSwarm, learners: dict[str, SwarmContract]
) -> None:
    a = learners["a"].account
    assert a is not None and swarm.sn_rest
    watcher = subprocess.Popen(
        [sys.executable, "-m", "swarm_network.cli.main"]
        + ["status", "--watch", "--sn", swarm.sn_rest],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in watcher.stdout], daemon=True)
    reader.start()
    seen: list[str] = []
    try:

        def drawn(times: int) -> None:
            deadline = time.monotonic() + WAIT_S
            while sum("watching" in line for line in seen) < times:
                try:
                    seen.append(lines.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    pytest.fail(f"not drawn {times} times:\n" + "".join(seen))

        drawn(1)
        assert any(a.address in line for line in seen)  # the nodes table
        doc = sign_metrics(a, step=1, metrics={"loss": 0.5}, timings=TIMINGS).to_json()
        assert post(swarm.sn_rest, doc).json()["new"] is True  # an event: a redraw
        drawn(2)
    finally:
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=WAIT_S) == 0


# ------------------------------------------------------------------ last: the chain goes away


def test_rest_answers_from_the_view_while_the_chain_is_down(
    swarm: LocalSwarm, learners: dict
) -> None:
    """The SN node serves what it last saw instead of reading the chain per request."""
    assert swarm.sn_rest and swarm.sentinel
    eventually(lambda: get(f"{swarm.sn_rest}/v1/training")["current_step"] == 2, "step 1 seen")
    before = {p: get(f"{swarm.sn_rest}{p}") for p in ("/v1/training", "/v1/nodes", "/v1/steps")}
    swarm.sentinel.kill()
    for path, doc in before.items():
        assert get(f"{swarm.sn_rest}{path}") == doc, path
