"""benchmarks/gpu_check.sh in its CPU smoke mode: the table, the JSON lines, the profile, and
the cap that keeps the whole check inside its time budget."""

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu_check.sh"


def run_check(out: Path, **env: str) -> str:
    environment = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_TINY": "1", **env}
    done = subprocess.run(
        ["bash", str(SCRIPT), str(out)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_smoke_run_prints_every_path_and_writes_results(tmp_path):
    stdout = run_check(tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "gpu_check.jsonl").read_text().splitlines()]
    assert [r["label"] for r in rows] == ["paper256-levers", "small64-levers"]
    for row in rows:
        assert set(row["paths"]) >= {"reference", "optimised", "bf16", "gp_every=4"}
        assert row["paths"]["optimised"]["images_per_second"] > 0
    for label in ("paper256-levers", "small64-levers"):
        assert f"{label:18s} optimised" in stdout
    assert "aten::" in (tmp_path / "paper256-profile.txt").read_text()


def test_total_time_cap_reports_timeouts(tmp_path):
    stdout = run_check(tmp_path, GPU_CHECK_SECONDS="2")
    assert "paper256-levers    error: timed out after 2 s" in stdout
