"""Each preset says, in its YAML, how long a step and its recommended steps take, with the
measured numbers of docs/performance.md / docs/model.md (or "not measured")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

CONFIGS = Path(__file__).resolve().parents[1] / "gaunet" / "configs"
DOCS = Path(__file__).resolve().parents[1] / "docs"
# measured by a user on the reference 2-core CPU (issue 18), not by the docs' benchmarks
USER_REPORTED = {"cpu-small": ("13.5",)}


def _comments(path: Path) -> str:
    return " ".join(line.lstrip("# ") for line in path.read_text().splitlines()
                    if line.startswith("#"))  # fmt: skip


@pytest.mark.parametrize("preset", ["paper", "cpu-small", "cpu-tiny"])
def test_preset_states_measured_step_time_and_total(preset: str) -> None:
    path = CONFIGS / f"{preset}.yaml"
    text = _comments(path)
    steps = yaml.safe_load(path.read_text())["steps"]
    assert "2-core x86-64 CPU" in text and "GPU" in text
    assert f"{steps} steps:" in text  # the time to the preset's own steps
    assert "docs/performance.md" in text
    measured = " ".join((DOCS / name).read_text() for name in ("performance.md", "model.md"))
    for seconds in re.findall(r"(\d+\.\d+) s/step", text):  # each cited time is a measured one
        assert seconds in measured or seconds in USER_REPORTED.get(preset, ()), seconds


def test_cpu_small_does_not_promise_an_hour_or_two() -> None:
    text = _comments(CONFIGS / "cpu-small.yaml")
    assert "hour or two" not in text
    assert "12-13.5 s/step" in text and "19 h" in text


def test_paper_on_a_cpu_says_it_is_not_a_cpu_preset() -> None:
    text = _comments(CONFIGS / "paper.yaml")
    assert "363.2 s/step" in text and "not a CPU preset" in text
