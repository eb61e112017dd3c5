"""benchmarks/arm_difference.py given folders it must not pair: other subsets, a folder twice,
mixed recipes, several fractions, NaN values, --json onto an input."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from gaunet.downstream.results_file import COLUMNS
from gaunet.downstream.stats import METRICS


def _script():
    path = Path(__file__).parents[1] / "benchmarks" / "arm_difference.py"
    spec = importlib.util.spec_from_file_location("arm_difference_hunt", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _folder(
    path: Path,
    arm: str,
    values: list[float],
    subset_seed: int,
    fractions: tuple[float, ...] = (0.25,),
    **settings: object,
) -> Path:
    """A benchmark folder (benchmark.json + results.csv) whose `arm` scored `values[seed]` on
    every metric, at fraction f the value + f - 0.25."""
    path.mkdir(parents=True)
    record = {"data": "x.npz", "split_seed": 0, "subset_seed": subset_seed, "seeds": len(values)}
    (path / "benchmark.json").write_text(json.dumps({**record, **settings}))
    with open(path / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for fraction in fractions:
            for seed, value in enumerate(values):
                for metric in METRICS:
                    writer.writerow({"classifier": "resnet18", "arm": arm, "fraction": fraction,
                                     "seed": seed, "metric": metric,
                                     "value": value + fraction - 0.25})  # fmt: skip
    return path


def _run(monkeypatch, pairs: list[str], *extra: str) -> None:
    argv = ["arm_difference", "--arm", "classic", "--against-arm", "copies+classic"]
    monkeypatch.setattr(sys, "argv", [*argv, "--pairs", *pairs, *extra])
    _script().main()


def _pairs(tmp_path: Path, b_seeds=(0, 1), **a_settings: object) -> list[str]:
    pairs = []
    for s, b_seed in zip((0, 1), b_seeds):
        a = _folder(tmp_path / f"a{s}", "classic", [0.71 + s / 100, 0.8], s, **a_settings)
        b = _folder(tmp_path / f"b{s}", "copies+classic", [0.70, 0.8], b_seed)
        pairs.append(f"{a}:{b}")
    return pairs


def test_a_pair_of_two_subsets_is_refused(tmp_path: Path, monkeypatch) -> None:
    """subset 0's arm against subset 1's control: printed as a difference, though the two
    classifiers were trained on different images."""
    with pytest.raises(SystemExit, match="subset seeds 0 and 1; pair the folders of one subset"):
        _run(monkeypatch, _pairs(tmp_path, b_seeds=(1, 0)))


def test_a_pair_given_twice_is_refused(tmp_path: Path, monkeypatch) -> None:
    pairs = _pairs(tmp_path)
    with pytest.raises(SystemExit, match="given in two pairs"):
        _run(monkeypatch, [pairs[0], pairs[0]])


def test_first_folders_of_other_recipes_are_refused(tmp_path: Path, monkeypatch) -> None:
    pairs = _pairs(tmp_path)
    b = tmp_path / "b1"
    other = _folder(tmp_path / "c1", "classic", [0.7, 0.8], 1, fit={"epochs": 40})
    with pytest.raises(SystemExit, match="only the subset seed may differ"):
        _run(monkeypatch, [pairs[0], f"{other}:{b}"])


def test_a_folder_of_several_fractions_needs_one(tmp_path: Path, monkeypatch, capsys) -> None:
    """Cells of each fraction were keyed by (seed, metric) alone: the last fraction read
    overwrote the others, and the difference mixed fractions silently."""
    pairs = []
    for s in (0, 1):
        a = _folder(tmp_path / f"a{s}", "classic", [0.72 + s / 100, 0.8], s, (0.25, 0.5))
        b = _folder(tmp_path / f"b{s}", "copies+classic", [0.70, 0.8], s, (0.5, 0.25))
        pairs.append(f"{a}:{b}")
    with pytest.raises(SystemExit, match="give --fraction"):
        _run(monkeypatch, pairs)
    out = tmp_path / "d.json"
    _run(monkeypatch, pairs, "--fraction", "0.5", "--json", str(out))
    assert json.loads(out.read_text())["accuracy"]["per_subset_points"] == pytest.approx([1.0, 1.5])


def test_a_nan_seed_is_left_out_of_its_subset(tmp_path: Path, monkeypatch) -> None:
    """AUC NaN for one seed made the whole subset NaN, and the pooled statistics then dropped
    that subset without a word (n = 1 of 2)."""
    pairs = []
    for s in (0, 1):
        a = _folder(tmp_path / f"a{s}", "classic", [0.72 + s / 100, float("nan"), 0.9], s)
        b = _folder(tmp_path / f"b{s}", "copies+classic", [0.70, 0.8, 0.9], s)
        pairs.append(f"{a}:{b}")
    out = tmp_path / "d.json"
    _run(monkeypatch, pairs, "--json", str(out))
    auc = json.loads(out.read_text())["auc"]
    assert auc["per_subset_points"] == pytest.approx([1.0, 1.5])
    assert auc["n"] == 2 and math.isclose(auc["mean"], 0.0125)


def test_json_onto_an_input_is_refused(tmp_path: Path, monkeypatch) -> None:
    pairs = _pairs(tmp_path)
    results = tmp_path / "a0" / "results.csv"
    before = results.read_bytes()
    with pytest.raises(SystemExit, match="an input of the comparison"):
        _run(monkeypatch, pairs, "--json", str(results))
    assert results.read_bytes() == before


def test_no_spread_gives_no_nan_interval(tmp_path: Path, monkeypatch, capsys) -> None:
    pairs = []
    for s in (0, 1):
        a = _folder(tmp_path / f"a{s}", "classic", [0.71, 0.81], s)
        b = _folder(tmp_path / f"b{s}", "copies+classic", [0.70, 0.80], s)
        pairs.append(f"{a}:{b}")
    _run(monkeypatch, pairs)
    out = capsys.readouterr().out
    assert "nan" not in out
    assert "+1.0, +1.0; +1.0, no interval" in out
