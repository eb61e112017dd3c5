"""benchmarks/run_line.py: the CPU check scripts' one line per `gaunet train` run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import run_line  # noqa: E402

RECORD = {
    "steps": 12,
    "wall_seconds": 13.731,
    "first_step_seconds": 1.475,
    "images_per_second": 83.899,
    "torch_threads": 1,
    "precision": "fp32",
    "precision_reason": "fp32: set in the config",
}


@pytest.mark.parametrize(
    ("show", "labels", "middle"),
    [
        (["torch_threads"], ["default"], "1 default"),
        (["precision", "precision_reason"], [], "fp32 'fp32: set in the config'"),
    ],
)
def test_the_line_holds_the_steady_step_time(show: list, labels: list, middle: str) -> None:
    steady = (13.731 - 1.475) / 11  # the first step (warm-up) left out
    expected = f"t1 {middle} 12 13.731 1.475 {round(steady, 3)} 83.899 load 1.4-1.3"
    assert run_line.line(RECORD, "t1", "1.4-1.3", show, labels) == expected


def test_the_script_reads_run_json(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(RECORD | {"steps": 1}))  # one step: no division by zero
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_line.py"), str(path), "x", "0-0",
         "--show", "torch_threads", "--label", "PASSIVE"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "x 1 PASSIVE 1 13.731 1.475 12.256 83.899 load 0-0"
