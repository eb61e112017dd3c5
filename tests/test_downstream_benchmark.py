"""The grid end to end on a tiny phantom: files, row counts, resume, provenance, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from downstream_helpers import FakeGenerators, one_quiet_thread

from gaunet.cli import main
from gaunet.data import read_split
from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark
from gaunet.downstream.cells import Grid
from gaunet.downstream.fit import FitSettings
from gaunet.downstream.generator_arms import GeneratorArms
from gaunet.downstream.provenance import read_synthetic_manifest, train_ids
from gaunet.downstream.stats import METRICS
from gaunet.errors import GaunetError
from gaunet.trained_generator import opaque_id

DATA = "phantom:n=24"


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    with one_quiet_thread(monkeypatch):
        yield


def _settings(**changes: object) -> BenchmarkSettings:
    base = dict(
        data=DATA, classifiers=["svm"], arms=["none", "classic"], fractions=[1.0], seeds=2, size=16
    )
    base.update(changes)
    return BenchmarkSettings(**base)


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_tiny_grid_writes_every_file_with_consistent_counts(tmp_path: Path) -> None:
    results = run_benchmark(_settings(), tmp_path)
    rows = _rows(results)
    assert len(rows) == 1 * 2 * 1 * 2 * len(METRICS)
    assert {(r["arm"], r["seed"]) for r in rows} == {
        (a, s) for a in ("none", "classic") for s in "01"
    }
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["entries"]) == 2
    classic = next(e for e in summary["entries"] if e["arm"] == "classic")
    assert classic["metrics"]["accuracy"]["n"] == 2 and classic["gain"]["accuracy"]["n"] == 2
    values = [float(r["value"]) for r in rows if r["arm"] == "classic" and r["metric"] == "auc"]
    assert classic["metrics"]["auc"]["mean"] == pytest.approx(np.mean(values), abs=1e-6)
    table = (tmp_path / "summary.md").read_text()
    assert (
        table.count("| svm | 1 | none | W/O |") == 1
        and table.count("| svm | 1 | classic | W |") == 1
    )
    assert (tmp_path / "gain_vs_fraction.png").stat().st_size > 1000
    assert (tmp_path / "split.csv").is_file() and (tmp_path / "benchmark.json").is_file()


def test_rerun_skips_finished_cells_and_recomputes_a_cut_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = run_benchmark(_settings(), tmp_path)
    before = _rows(results)
    with open(results, "a") as handle:  # a cell cut off after one metric row
        handle.write("svm,none,1,2,accuracy,0.5,1,0,,,0.0\n")
    calls: list[tuple] = []
    original = Grid.run_cell

    def counting(self: Grid, *cell: object) -> list[dict]:
        calls.append(cell)
        return original(self, *cell)

    monkeypatch.setattr(Grid, "run_cell", counting)
    run_benchmark(_settings(seeds=3), tmp_path)
    assert [(c[1].name, c[3]) for c in calls] == [("none", 2), ("classic", 2)]
    after = _rows(results)
    assert len(after) == len(before) + 2 * len(METRICS)
    with pytest.raises(GaunetError, match="size"):
        run_benchmark(_settings(size=20), tmp_path)


def test_a_resumed_folder_keeps_its_saved_split(tmp_path: Path) -> None:
    """A folder made by an earlier gaunet, whose split assign_split would no longer give, is
    continued on that split (its finished cells were made on it), in this process and in the
    workers of --jobs."""
    from gaunet.downstream.benchmark import worker_grid

    run_benchmark(_settings(seeds=1), tmp_path)
    saved = read_split(tmp_path / "split.csv")
    ids = sorted(saved)
    moved = next(i for i in ids if saved[i] == "train")
    other = next(i for i in ids if saved[i] == "test")
    saved[moved], saved[other] = "test", "train"  # as another rule would have split
    lines = (tmp_path / "split.csv").read_text().splitlines()
    rewritten = [lines[0]] + [
        ",".join(line.split(",")[:-1] + [saved[line.split(",")[0]]]) for line in lines[1:]
    ]
    (tmp_path / "split.csv").write_text("\n".join(rewritten) + "\n")
    run_benchmark(_settings(seeds=2), tmp_path)
    assert read_split(tmp_path / "split.csv") == saved
    grid = worker_grid(_settings(seeds=2), tmp_path, None)
    assert {str(i): part for part in ("train", "val", "test")
            for i in getattr(grid, part).ids} == saved  # fmt: skip


def test_generator_arm_uses_only_training_subset_images(tmp_path: Path) -> None:
    fake = FakeGenerators()
    helper = GeneratorArms(tmp_path, train_fn=fake.train, generate_fn=fake.generate)
    settings = _settings(
        classifiers=["resnet18"],
        arms=["none", "gaunet"],
        fractions=[0.5],
        seeds=1,
        width=0.125,
        fit=FitSettings(epochs=1, batch_size=32),
    )
    rows = _rows(run_benchmark(settings, tmp_path, arms_helper=helper))
    assert len(rows) == 2 * len(METRICS)
    real = [r for r in rows if r["arm"] == "gaunet"][0]
    assert int(real["n_extra"]) == int(real["n_real"])  # ratio 1.0, per class
    split = read_split(tmp_path / "split.csv")
    manifests = list((tmp_path / "synthetic").glob("*/manifest.csv"))
    assert len(manifests) == 1
    by_hash = {opaque_id(i): i for i in split}
    sources = {by_hash[row["source_id"]] for row in read_synthetic_manifest(manifests[0])}
    assert sources and all(split[s] == "train" for s in sources)
    runs = [
        Path(json.loads(p.read_text())["run"]) for p in (tmp_path / "generators").glob("*.json")
    ]
    assert len(runs) == 1
    trained = train_ids(runs[0])
    assert all(split[i] == "train" for i in trained)
    assert len(trained) < sum(v == "train" for v in split.values())  # the 0.5 subset only


def test_generators_train_before_any_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cells' bar times cells alone and a failing generator fails first: the generator is
    trained before the baselines' cells, not at its arm's first cell (hours inside an ETA of
    minutes); a generator that fails leaves no cell done, and the rerun trains it, then runs
    every cell."""
    fake = FakeGenerators()
    events: list[str] = []
    original = Grid.run_cell

    def logged_cell(self: Grid, classifier: str, arm: object, *rest: object) -> list[dict]:
        events.append(f"cell {arm.name}")  # type: ignore[attr-defined]
        return original(self, classifier, arm, *rest)

    def failing_train(*args: object, **kwargs: object) -> Path:
        events.append("train")
        raise GaunetError("the generator's config is bad")

    monkeypatch.setattr(Grid, "run_cell", logged_cell)
    settings = _settings(arms=["none", "gaunet"], fractions=[0.5], seeds=2)
    helper = GeneratorArms(tmp_path, train_fn=failing_train, generate_fn=fake.generate)
    with pytest.raises(GaunetError, match="config is bad"):
        run_benchmark(settings, tmp_path, arms_helper=helper)
    assert events == ["train"] and _rows(tmp_path / "results.csv") == []

    events.clear()

    def train(*args: object, **kwargs: object) -> Path:
        events.append("train")
        return fake.train(*args, **kwargs)

    helper = GeneratorArms(tmp_path, train_fn=train, generate_fn=fake.generate)
    rows = _rows(run_benchmark(settings, tmp_path, arms_helper=helper))
    assert events == ["train", "cell none", "cell none", "cell gaunet", "cell gaunet"]
    assert len(rows) == 4 * len(METRICS)


def test_cli_runs_a_grid_and_reports_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["benchmark", "--data", DATA, "--out", str(tmp_path), "--classifiers", "svm"]
    args += ["--arms", "none,classic", "--fractions", "0.5", "--seeds", "2", "--size", "16"]
    assert main(args) == 0
    assert "| svm | 0.5 | classic | W |" in capsys.readouterr().out
    assert main([*args[:-2], "--size", "16", "--arms", "none,bogus"]) == 2
    assert "bogus" in capsys.readouterr().err


def test_the_same_data_file_named_another_way_continues_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder begun with `--data ../x.npz` continues with `--data /abs/x.npz`; another file
    with the same content is other data and is refused."""
    rng = np.random.default_rng(0)
    arrays = {}
    for part in ("train", "val", "test"):
        arrays[f"{part}_images"] = rng.integers(0, 256, (16, 16, 16), dtype=np.uint8)
        arrays[f"{part}_labels"] = np.arange(16)[:, None] % 2
    np.savez(tmp_path / "real.npz", **arrays)
    np.savez(tmp_path / "copy.npz", **arrays)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    out = tmp_path / "bench"
    run_benchmark(_settings(data="../real.npz", arms=["none"], seeds=1), out)
    results = run_benchmark(_settings(data=str(tmp_path / "real.npz"), arms=["none"]), out)
    assert sorted({r["seed"] for r in _rows(results)}) == ["0", "1"]
    assert json.loads((out / "benchmark.json").read_text())["data"] == "../real.npz"
    with pytest.raises(GaunetError, match="other data"):
        run_benchmark(_settings(data=str(tmp_path / "copy.npz"), arms=["none"]), out)


def test_a_fraction_with_more_digits_than_stored_is_found_again(tmp_path: Path) -> None:
    """results.csv keeps 6 significant digits (0.333333): the cells of --fractions 0.3333333
    are found done on a rerun, and its rows reach the summary."""
    from gaunet.downstream.subsets import parse_fractions

    settings = _settings(fractions=[1 / 3, 1.0], seeds=1)
    run_benchmark(settings, tmp_path)
    rerun = run_benchmark(_settings(fractions=parse_fractions("0.3333333,1"), seeds=1), tmp_path)
    assert len(_rows(rerun)) == 2 * 2 * len(METRICS)  # nothing computed twice
    entries = json.loads((tmp_path / "summary.json").read_text())["entries"]
    assert {round(float(e["fraction"]), 6) for e in entries} == {0.333333, 1.0}


def test_a_resumed_generator_gets_what_is_left_of_its_minutes(tmp_path: Path) -> None:
    """An interrupted generator got the whole --gen-minutes again on every resume."""
    from gaunet.data import load_source
    from gaunet.downstream.arms import parse_arms
    from gaunet.downstream.generator_arms import GeneratorArms, minutes_left

    (arm,) = parse_arms(["gaunet"])
    subset = load_source(DATA, size=16, channels=1)
    arms = GeneratorArms(tmp_path, gen_minutes=5.0)
    assert arms.training_job(arm, 1.0, subset).minutes is None  # a new run: the whole budget
    folder = tmp_path / "generators" / "gaunet-f1-s0"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.pt").write_bytes(b"")
    (folder / "run.json").write_text(json.dumps({"wall_seconds": 120.0}))
    job = arms.training_job(arm, 1.0, subset)
    assert job.resume and job.minutes == pytest.approx(3.0)
    (folder / "run.json").write_text(json.dumps({"wall_seconds": 600.0}))
    assert minutes_left(5.0, folder / "run.json") == pytest.approx(0.05)  # spent: a moment
    assert minutes_left(None, folder / "run.json") is None


def test_images_of_a_generator_retrained_in_place_are_made_again(tmp_path: Path) -> None:
    """Deleting a generator's record (as a refusal advises) retrained it, but its synthetic
    folder was reused: the new generator's images were never made."""
    from gaunet.downstream.generator_arms import GeneratorArms
    from gaunet.downstream.provenance import made_by_checkpoint

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt.sha256").write_text("aaa  last.pt\n")
    folder = tmp_path / "synthetic"
    folder.mkdir()
    (folder / "manifest.csv").write_text("path,checkpoint_sha256\nx/1.png,aaa\n")
    calls: list[Path] = []

    def generate(run_path, out, **options):
        calls.append(out)
        return out / "manifest.csv"

    arms = GeneratorArms(tmp_path, generate_fn=generate)
    assert made_by_checkpoint(folder / "manifest.csv", run / "checkpoints")
    arms._generated(run, folder, per_class=1, checkpoint=None)
    assert calls == []  # the images are this checkpoint's: reused
    (run / "checkpoints" / "last.pt.sha256").write_text("bbb  last.pt\n")  # retrained
    arms._generated(run, folder, per_class=1, checkpoint=None)
    assert calls == [folder]
    (run / "checkpoints" / "last.pt.sha256").unlink()  # carried without checkpoints
    assert made_by_checkpoint(folder / "manifest.csv", run / "checkpoints")


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--arms", ","], "--arms lists nothing"),
        (["--classifiers", "svm,svm"], "--classifiers names one twice"),
        (["--synthetic-ratio", "0"], "--synthetic-ratio must be a number above 0"),
        (["--synthetic-ratio", "nan"], "--synthetic-ratio must be a number above 0"),
        (["--width", "0"], "--width must be a number above 0"),
        (["--lr", "-1"], "--lr must be a number above 0"),
        (["--synthetic-weight", "nan"], "--synthetic-weight must be a number >= 0"),
        (["--batch-size", "0"], "--batch-size must be at least 2"),
        (["--size", "0"], "--size must be at least 8"),
        (["--split-seed", "-1"], "--split-seed must be in 0.."),
        (["--gen-steps", "0"], "--gen-steps must be at least 1"),
        (["--gen-minutes", "inf"], "--gen-minutes must be a number above 0"),
        (["--out", ""], "--out is empty"),
    ],
)
def test_bad_numbers_and_lists_are_refused_before_the_folder_is_pinned(
    tmp_path: Path, capsys: pytest.CaptureFixture, options: list[str], says: str
) -> None:
    """Each was a traceback, ran to a meaningless result (an empty grid, twice the cells, an
    untrained network), or was pinned in benchmark.json before being refused."""
    out = tmp_path / "b"
    args = ["benchmark", "--data", DATA, "--out", str(out), "--classifiers", "svm",
            "--arms", "none,copies", "--seeds", "2", "--size", "16", *options]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert not out.exists()
