"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright),
served by a real swarm while it trains: the curves fill with every learner's points without a
reload, a node link opens that learner's page, and its numbers are the REST API's.

A screenshot of each page is kept in tests/artifacts/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from swarm_learning.demo.digits_swarm import TRAIN_MODULE, prepare_learner_data
from swarm_learning.demo.local_swarm import LocalSwarm

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install '.[dev]')"
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
LEARNERS = ["learner1", "learner2", "learner3"]
EPOCHS = 10  # 14 batches per epoch, a sync every 32: 5-6 sync steps
MIN_POINTS = 3
WAIT_MS = 240_000

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed (apt-get install chromium)",
)


@pytest.fixture(scope="module")
def training_swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSwarm]:
    """A swarm that starts training; the test watches it while it runs."""
    swarm = LocalSwarm(work_dir=tmp_path_factory.mktemp("dashboard-swarm"))
    try:
        prepare_learner_data(swarm, LEARNERS, seed=0)
        swarm.start_sentinel()
        sn_url = swarm.start_sn()
        for i, name in enumerate(LEARNERS):
            sn = swarm.sentinel_rest if i == 0 else sn_url
            assert sn is not None
            swarm.start_learner(name, sn, TRAIN_MODULE, ["--epochs", str(EPOCHS)])
        yield swarm
    finally:
        swarm.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def learner_addresses(base: str) -> list[str]:
    nodes = requests.get(f"{base}/v1/nodes", timeout=10).json()["nodes"]
    return [n["address"] for n in nodes if n["role"] == "learner"]


def test_dashboard_shows_every_learner_live_and_agrees_with_rest(
    training_swarm: LocalSwarm, browser: object
) -> None:
    """On the SN node that is not the sentinel: it shows the figures of the learner that
    reports to the sentinel too, relayed and checked."""
    base = training_swarm.sn_rest
    assert base is not None
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1800})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/")
    page.wait_for_selector("#connection.live", timeout=30_000)
    # Opened early, the page fills without a reload: every learner's curve gets its points.
    page.wait_for_function(
        """([count, min]) => {
            const d = window.swarmDashboard;
            if (!d) return false;
            const loss = Object.values(d.points("loss"));
            const metric = Object.values(d.points("metric"));
            return loss.length === count && metric.length === count
                && loss.every((n) => n >= min) && metric.every((n) => n >= min);
        }""",
        arg=[len(LEARNERS), MIN_POINTS],
        timeout=WAIT_MS,
    )
    learners = learner_addresses(base)
    assert len(learners) == len(LEARNERS)
    shown = page.evaluate("() => window.swarmDashboard.points('loss')")
    assert set(shown) == {a.lower() for a in learners}
    assert page.locator("#loss-name").input_value() == "loss"
    assert page.locator("#metric-name").input_value() == "val_accuracy"
    bars = page.evaluate("() => window.swarmDashboard.points('timeline')")
    assert set(bars) == {"local training", "chain (check-in)", "wait", "transfer", "merge"}
    assert min(bars.values()) >= MIN_POINTS  # one bar per step, split into its phases
    rows = page.locator("#nodes tbody tr")
    assert rows.count() == len(learners) + 2  # and the sentinel and the SN node
    assert page.locator("#state").inner_text() in ("training", "waiting_for_quorum", "done")
    page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

    learner = learners[1]
    page.locator(f'#nodes tr[data-address="{learner}"] a.node-link').click()
    page.wait_for_selector("#node-page:not([hidden])")
    assert page.locator("#node-address").inner_text() == learner
    page.wait_for_function(
        "(min) => document.querySelectorAll('#node-history tbody tr').length >= min",
        arg=MIN_POINTS,
    )
    history = requests.get(f"{base}/v1/nodes/{learner}/metrics", timeout=10).json()["history"]
    by_step = {row["step"]: row for row in history}
    cells = page.eval_on_selector_all(
        "#node-history tbody td[data-key]",
        """tds => tds.map(td => ({step: Number(td.parentElement.dataset.step),
                                  key: td.dataset.key, value: td.dataset.value,
                                  text: td.textContent}))""",
    )
    assert {c["key"] for c in cells} >= {"loss", "val_loss", "val_accuracy", "wait_s", "merge_s"}
    checked = 0
    for cell in cells:
        row = by_step[cell["step"]]
        expected = row["metrics"].get(cell["key"], row["timings"].get(cell["key"]))
        if expected is None:  # step 0 comes before any training: no training loss yet
            assert (cell["value"], cell["text"]) == ("", "-"), cell
            continue
        assert float(cell["value"]) == pytest.approx(expected, rel=1e-12), cell
        digits = 3 if cell["key"].endswith("_s") else 4
        assert cell["text"] == f"{expected:.{digits}f}", cell
        checked += 1
    assert checked >= MIN_POINTS * 5
    status = requests.get(f"{base}/v1/nodes/{learner}", timeout=10).json()
    assert f"role {status['role']}" in page.locator("#node-facts").inner_text()
    page.screenshot(path=str(ARTIFACTS / "dashboard-node.png"), full_page=True)
    assert errors == []
