"""benchmarks/arm_difference.py: two different arms of paired folders, per subset and pooled."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from gaunet.downstream.results_file import COLUMNS
from gaunet.downstream.stats import METRICS


def _script():
    path = Path(__file__).parents[1] / "benchmarks" / "arm_difference.py"
    spec = importlib.util.spec_from_file_location("arm_difference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _folder(path: Path, arm: str, values: list[float]) -> Path:
    """A benchmark folder whose `arm` scored `values[seed]` on every metric."""
    path.mkdir(parents=True)
    with open(path / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for seed, value in enumerate(values):
            for metric in METRICS:
                writer.writerow({"classifier": "resnet18", "arm": arm, "fraction": "0.25",
                                 "seed": seed, "metric": metric, "value": value})  # fmt: skip
    return path


def test_pairs_by_seed_and_pools_over_subsets(tmp_path: Path, monkeypatch, capsys) -> None:
    script = _script()
    pairs = []
    for s, shift in enumerate((0.01, 0.02, 0.03)):  # subset s: the arm leads by 1, 2, 3 points
        a = _folder(
            tmp_path / f"a{s}", "gaunet+classic", [0.70 + shift, 0.80 + shift, 0.75 + shift]
        )
        b = _folder(tmp_path / f"b{s}", "copies+classic", [0.70, 0.80, 0.75])
        pairs.append(f"{a}:{b}")
    out = tmp_path / "difference.json"
    argv = ["arm_difference", "--arm", "gaunet+classic", "--against-arm", "copies+classic",
            "--pairs", *pairs, "--json", str(out)]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    script.main()
    result = json.loads(out.read_text())
    assert result["accuracy"]["per_subset_points"] == pytest.approx([1.0, 2.0, 3.0])
    assert result["auc"]["mean"] == pytest.approx(0.02)
    assert "+2.0 [" in capsys.readouterr().out


def test_an_arm_missing_from_a_folder_is_refused(tmp_path: Path) -> None:
    script = _script()
    a = script._values(_folder(tmp_path / "a", "gaunet", [0.7]), "gaunet+classic", "resnet18")
    with pytest.raises(SystemExit, match="no seed finished in both arms"):
        script.subset_difference(a, {(0, "accuracy"): 0.7}, "accuracy")
