"""Benchmark folders that are damaged, misplaced or continued with another run-folder arm:
refused in one line, never continued with mixed or lost cells."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from downstream_helpers import FakeGenerators

from gaunet.cli import main
from gaunet.data import load_source
from gaunet.data.splits import folder_split
from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark
from gaunet.downstream.generator_arms import GeneratorArms
from gaunet.downstream.results_file import COLUMNS, read_results
from gaunet.downstream.stats import METRICS
from gaunet.errors import GaunetError, GaunetWarning

DATA = "phantom:n=24"


def _settings(**changes: object) -> BenchmarkSettings:
    base = dict(data=DATA, classifiers=["svm"], arms=["none"], fractions=[1.0], seeds=1, size=16)
    base.update(changes)
    return BenchmarkSettings(**base)


@pytest.mark.parametrize("text", ['{"data": "phan', "", "[1, 2]"])
def test_an_unreadable_benchmark_json_is_refused_in_one_line(tmp_path: Path, text: str) -> None:
    run_benchmark(_settings(), tmp_path)
    (tmp_path / "benchmark.json").write_text(text)
    with pytest.raises(GaunetError, match="benchmark.json"):
        run_benchmark(_settings(), tmp_path)


def test_finished_cells_without_their_settings_are_not_continued(tmp_path: Path) -> None:
    run_benchmark(_settings(), tmp_path)
    before = (tmp_path / "results.csv").read_text()
    (tmp_path / "benchmark.json").unlink()
    with pytest.raises(GaunetError, match="benchmark.json.*missing"):
        run_benchmark(_settings(width=0.5), tmp_path)  # its cells' width is unknown now
    assert (tmp_path / "results.csv").read_text() == before


@pytest.mark.parametrize("header", ["x,y", "none"])
def test_a_results_file_without_its_header_is_refused_not_emptied(
    tmp_path: Path, header: str
) -> None:
    run_benchmark(_settings(), tmp_path)
    path = tmp_path / "results.csv"
    lines = path.read_text().splitlines()
    text = "\n".join(lines[1:] if header == "none" else [header, *lines[1:]]) + "\n"
    path.write_text(text)
    with pytest.raises(GaunetError, match="results.csv: not a results file"):
        run_benchmark(_settings(), tmp_path)
    assert path.read_text() == text


def test_a_row_cut_inside_a_multibyte_character_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    rows = [
        {"classifier": "svm", "arm": arm, "fraction": "1", "seed": "0", "metric": m,
         "value": "0.5", "n_real": "4", "n_extra": "0", "epochs_run": "", "best_epoch": "",
         "seconds": "0.1"}
        for arm in ("none", "run:läuft") for m in METRICS
    ]  # fmt: skip
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex("ä".encode()) + 1])  # cut inside the "ä"
    assert {r["arm"] for r in read_results(path)} == {"none"}


def test_out_inside_the_data_folder_or_in_a_run_is_refused(tmp_path: Path, capsys) -> None:
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / "ds" / name).mkdir(parents=True)
        for k in range(6):
            Image.new("L", (8, 8), 40 * k).save(tmp_path / "ds" / name / f"{k}.png")
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    common = ["benchmark", "--classifiers", "svm", "--arms", "none", "--seeds", "1", "--quiet"]
    for data, out in ((tmp_path / "ds", tmp_path / "ds" / "bench"), (DATA, run)):
        assert main([*common, "--data", str(data), "--out", str(out)]) == 2
        assert "Nothing written" in capsys.readouterr().err
    assert not (tmp_path / "ds" / "bench").exists() and not (run / "results.csv").exists()


def test_a_run_arm_that_became_another_run_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    run_benchmark(_settings(), out)
    data = folder_split(load_source(DATA, size=16), out / "split.csv", seed=0)
    fake = FakeGenerators()
    runs = [fake.train(data.where_split("train"), tmp_path / where / "r1") for where in "AB"]
    for run, digest in zip(runs, "ab"):
        (run / "checkpoints").mkdir()
        (run / "checkpoints" / "last.pt.sha256").write_text(digest * 64 + "  last.pt\n")

    def helper() -> GeneratorArms:
        return GeneratorArms(out, train_fn=fake.train, generate_fn=fake.generate)

    run_benchmark(_settings(arms=["none", str(runs[0])]), out, arms_helper=helper())
    run_benchmark(_settings(arms=["none", str(runs[0])]), out, arms_helper=helper())  # the same
    with pytest.raises(GaunetError, match="arm run:r1"):  # same name, another generator
        run_benchmark(_settings(arms=["none", str(runs[1])]), out, arms_helper=helper())
    assert {r["arm"] for r in read_results(out / "results.csv")} == {"none", "run:r1"}


def test_a_damaged_run_arm_record_is_said_not_skipped(tmp_path: Path) -> None:
    """run-arms.json is how a run:NAME arm is checked against the run its cells were made with;
    damaged, the check was skipped and the record rewritten without a word."""
    out = tmp_path / "bench"
    run_benchmark(_settings(), out)
    data = folder_split(load_source(DATA, size=16), out / "split.csv", seed=0)
    fake = FakeGenerators()
    run = fake.train(data.where_split("train"), tmp_path / "A" / "r1")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.pt.sha256").write_text("a" * 64 + "  last.pt\n")
    settings = _settings(arms=["none", str(run)])

    def helper() -> GeneratorArms:
        return GeneratorArms(out, train_fn=fake.train, generate_fn=fake.generate)

    run_benchmark(settings, out, arms_helper=helper())
    (out / "run-arms.json").write_text("{not json")
    with pytest.warns(GaunetWarning, match=r"run-arms.json is unreadable, so run:r1 cannot"):
        run_benchmark(settings, out, arms_helper=helper())
    assert "run:r1" in json.loads((out / "run-arms.json").read_text())


def test_a_source_of_one_class_is_refused_in_one_line(tmp_path: Path) -> None:
    """Every classifier failed in its first cell with a scikit-learn or torch traceback."""
    import numpy as np
    from PIL import Image

    (tmp_path / "src" / "a").mkdir(parents=True)
    for i in range(12):
        pixels = np.random.default_rng(i).integers(0, 255, (16, 16), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "src" / "a" / f"{i}.png")
    with pytest.raises(GaunetError, match=r"has 1 usable class\(es\) \(a\); a benchmark needs two"):
        run_benchmark(_settings(data=str(tmp_path / "src")), tmp_path / "bench")
