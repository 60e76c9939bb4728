"""`pip wheel .` gives a package that runs a swarm without the checkout: the compiled contract
artifacts, the dashboard's static files and every `swarm` subcommand are in it. Built from a
copy of the tracked files, so the checkout gets no build/ or egg-info."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DATA = ("contracts/artifacts/", "swarm_network/dashboard/static/")


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.splitlines() if line and (ROOT / line).is_file()]


def test_the_wheel_holds_the_contracts_the_dashboard_and_every_command(tmp_path: Path) -> None:
    source = tmp_path / "src"
    files = tracked_files()
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation"]
        + ["-w", str(tmp_path / "dist"), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = [f for f in files if f.startswith(PACKAGE_DATA)]
    assert any(f.endswith("SwarmLearning.json") for f in data)
    assert any(f.endswith("index.html") for f in data)
    assert sorted(set(data) - names) == []
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "swarm = swarm_network.cli.main:main" in text
    for command in ("sentinel", "sn", "sl", "status", "demo", "node", "deploy"):
        assert f"\n{command} = " in text, command
