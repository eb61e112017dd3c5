"""benchmarks/item5_report.py on the smoke item-5 folder of benchmarks/gpu_train_check.py: the
folder is carried elsewhere (its recorded absolute paths lead nowhere, as after the GPU run), each
subset's generator is evaluated once, and the report holds the generators' training and image
metrics beside pooled.json's gains."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import item5_report  # noqa: E402

DATA = "phantom:n=48,classes=2"
REPORT = [sys.executable, str(ROOT / "benchmarks" / "item5_report.py")]
QUICK = ["--data", DATA, "--device", "cpu", "--domain-steps", "50"]  # a 3-second domain CNN
# (arm, pooled.json key, row label): the six comparisons of issue 29 item 5
EXPECTED = [
    ("gaunet", "gain", "gaunet vs none"),
    ("gaunet", "gain_vs_copies", "gaunet vs copies"),
    ("gaunet+classic", "gain_vs_classic", "gaunet+classic vs classic"),
    ("gaunet+classic", "gain_vs_copies", "gaunet+classic vs copies+classic"),
    ("copies+classic", "gain_vs_classic", "copies+classic vs classic"),
    ("classic", "gain", "classic vs none"),
]


@pytest.fixture(scope="session")
def smoke_item5(item5_smoke_check: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke item-5 folder as it comes back from the GPU (conftest.item5_smoke_check): a
    copy, whose recorded absolute paths point to a folder (the 'GPU machine's') that no longer
    exists."""
    return _copy(item5_smoke_check / "item5", tmp_path_factory.mktemp("carried") / "item5")


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


@pytest.fixture(scope="session")
def reported_item5(smoke_item5: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """That folder carried elsewhere again and reported on: one run of the script (four
    evaluations, most of this file's time), shared by the tests of a test process; (the folder,
    the run's stdout). Its recorded paths were checked to lead nowhere before the run."""
    item5 = _copy(smoke_item5, tmp_path_factory.mktemp("elsewhere") / "ITEM5")
    for record in item5.glob("subset-*/generators/gaunet-*.json"):
        assert not Path(json.loads(record.read_text())["run"]).exists()  # stale, as after the GPU
    pooled = json.loads((item5 / "pooled.json").read_text())
    assert not any(Path(f).exists() for f in pooled["folders"])
    done = subprocess.run([*REPORT, str(item5), *QUICK], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return item5, done.stdout


def test_report_from_a_carried_folder(reported_item5: tuple[Path, str]) -> None:
    item5, stdout = reported_item5
    pooled = json.loads((item5 / "pooled.json").read_text())
    out = item5 / "item5.md"
    assert stdout.strip().splitlines()[-1] == str(out)
    assert stdout.count("gaunet evaluate") == 4  # per subset its images and its real ones
    report = json.loads(out.with_suffix(".json").read_text())
    text = out.read_text()
    head = text.splitlines()[:5]
    assert head[2].startswith("Command: `") and "item5_report.py" in head[2]
    assert f"{item5} --data {DATA}" in head[2] and "--domain-steps 50" in head[2]
    assert re.match(r"Date: \d{4}-\d\d-\d\d \d\d:\d\d UTC", head[4])

    rows = report["subsets"]
    assert [r["subset_seed"] for r in rows] == [0, 1]
    for row in rows:
        subset = item5 / f"subset-{row['subset_seed']}"
        evaluated = json.loads((subset / "evaluate.json").read_text())
        assert Path(evaluated["arguments"]["run"]).parent == subset / "generators"  # the copy's
        assert math.isfinite(row["fd_domain"]) and row["fd_domain"] > 0
        assert math.isfinite(row["noise_diversity"]) and row["noise_diversity"] >= 0
        assert row["fd_domain"] == evaluated["features"]["domain"]["overall"]["FD_domain"]
        assert row["copy_rate"] == evaluated["memorization"]["pixel"]["copy_rate"]
        assert row["pa"] == evaluated["PA"]["value"]
        run = next(p for p in (subset / "generators").glob("gaunet-*") if p.is_dir())
        record = json.loads((run / "run.json").read_text())
        steps = record["steps"]
        assert row["precision"] == record["precision"] and row["precision"] in ("fp32", "bf16")
        batch = yaml.safe_load((run / "config.yaml").read_text())["batch_size"]
        with np.load(run / "train_images.npz") as images:
            count = len(images["labels"])
        assert (row["steps"], row["batch_size"], row["train_images"]) == (steps, batch, count)
        assert row["epochs"] == pytest.approx(steps * batch / count)
        assert steps == 4 and row["epochs"] > 1  # the smoke generators: 4 steps of 8 images
        cells = (
            f"| {row['subset_seed']} | {steps} | {batch} | {count} | {steps * batch / count:.0f} |"
        )
        assert cells in text
    # each subset's own real training images, scored the same way: the floor of FD_domain
    for real, row in zip(report["real"], rows, strict=True):
        subset = item5 / f"subset-{real['subset_seed']}"
        scored = json.loads((subset / "evaluate-real.json").read_text())
        assert scored["sources"]["synthetic"].endswith("train_images.npz")
        assert real["images"] == row["train_images"]
        assert real["fd_domain"] == scored["features"]["domain"]["overall"]["FD_domain"]
        assert real["fd_domain"] < row["fd_domain"]  # 4-step generators: far from real images
        assert scored["memorization"]["pixel"]["copy_rate"] == 1.0  # they are the train images
        assert f"| {real['subset_seed']} | {real['images']} | {real['fd_domain']:.1f} |" in text
    fd = [r["fd_domain"] for r in rows]
    assert report["mean"]["fd_domain"] == pytest.approx(sum(fd) / 2)
    assert f"| mean | 4 | {rows[0]['batch_size']} |" in text

    by_arm = {e["arm"]: e for e in pooled["entries"]}
    got = {(r["comparison"], r["metric"]): r for r in report["pooled"]}
    assert len(report["pooled"]) == len(EXPECTED) * 2
    for arm, key, label in EXPECTED:
        for metric in ("accuracy", "auc"):
            stat, row = by_arm[arm][key][metric], got[(label, metric)]
            assert row["mean"] == pytest.approx(100 * stat["mean"])
            for end in ("low", "high"):  # None where the subsets gave no interval (no spread)
                want = None if stat[end] is None else pytest.approx(100 * stat[end])
                assert row[end] == want
            assert row["p"] == stat["p"]
            assert row["per_subset"] == pytest.approx([100 * v for v in stat["per_subset"]])
            per = ", ".join(f"{100 * v:+.1f}" for v in stat["per_subset"])
            shown = "[" if stat["low"] is not None else "(no interval"
            assert f"| {label} | {metric} | {per} | {100 * stat['mean']:+.1f} {shown}" in text

    # a second run reuses each subset's evaluate.json: evaluate is not run again
    stamps = {
        p: p.stat().st_mtime_ns for name in ("evaluate", "evaluate-real")
        for p in item5.glob(f"subset-*/{name}.*")
    }  # fmt: skip
    assert len(stamps) == 8  # .json and .log of each
    again = subprocess.run([*REPORT, str(item5), *QUICK], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "gaunet evaluate" not in again.stdout
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert json.loads(out.with_suffix(".json").read_text())["subsets"] == rows


@pytest.mark.parametrize(
    ("removed", "named"),
    [
        ("synthetic", "synthetic/gaunet-*/manifest.csv"),
        # neither the recorded path nor generators/<tag>/ beside the record: gaunet benchmark's rule
        ("generators/gaunet-f0.25-s1", "the generator run it records is gone"),
    ],
)
def test_a_subset_without_its_images_or_run_is_named(
    smoke_item5: Path, tmp_path: Path, removed: str, named: str
) -> None:
    """Every subset is checked before any is evaluated: the error names the subset and what it
    lacks, and no evaluation was started."""
    item5 = _copy(smoke_item5, tmp_path / "ITEM5")
    shutil.rmtree(item5 / "subset-1" / removed)
    done = subprocess.run([*REPORT, str(item5), *QUICK], capture_output=True, text=True)
    assert done.returncode != 0
    assert "subset-1" in done.stderr and named in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(item5.glob("subset-*/evaluate.*")) and not (item5 / "item5.md").exists()


def test_evaluated_first_then_reported_without_checkpoints(
    smoke_item5: Path, tmp_path: Path
) -> None:
    """--evaluate-only scores each finished subset (one with a run record, not only snapshot
    selection scores) before there is a pooled.json; after that
    the folder reports without its generators' checkpoints (benchmarks/item5_cpu.sh keeps
    folders in git without them), and a subset not yet evaluated still names what it lacks."""
    item5 = _copy(smoke_item5, tmp_path / "ITEM5")
    pooled = (item5 / "pooled.json").read_bytes()
    (item5 / "pooled.json").unlink()
    # subset-1's generator still training: no run record yet, only a snapshot selection's scores
    generators = item5 / "subset-1" / "generators"
    (record,) = [p for p in generators.glob("gaunet-*.json")]
    hidden = record.rename(tmp_path / record.name)
    (generators / f"{record.stem}-selection.json").write_text("{}")
    early = subprocess.run(
        [*REPORT, str(item5), *QUICK, "--evaluate-only"], capture_output=True, text=True
    )
    assert early.returncode == 0, early.stderr[-2000:]
    assert early.stdout.count("gaunet evaluate") == 2  # subset-0 only
    assert not (item5 / "subset-1" / "evaluate.json").exists()
    hidden.rename(record)
    first = subprocess.run(
        [*REPORT, str(item5), *QUICK, "--evaluate-only"], capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.count("gaunet evaluate") == 2  # subset-1 now; subset-0's kept
    for subset in ("subset-0", "subset-1"):
        assert (item5 / subset / "evaluate.json").is_file()
        assert (item5 / subset / "evaluate-real.json").is_file()
    assert not (item5 / "item5.md").exists()

    for checkpoints in item5.glob("subset-*/generators/*/checkpoints"):
        shutil.rmtree(checkpoints)
    (item5 / "pooled.json").write_bytes(pooled)
    done = subprocess.run([*REPORT, str(item5), *QUICK], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "gaunet evaluate" not in done.stdout
    rows = json.loads((item5 / "item5.json").read_text())["subsets"]
    scored = json.loads((item5 / "subset-1" / "evaluate.json").read_text())
    assert rows[1]["fd_domain"] == scored["features"]["domain"]["overall"]["FD_domain"]

    (item5 / "subset-1" / "evaluate-real.json").unlink()
    missing = subprocess.run([*REPORT, str(item5), *QUICK], capture_output=True, text=True)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "subset-1" in missing.stderr and "last.pt is missing" in missing.stderr


def test_an_earlier_report_joins_its_subsets(
    reported_item5: tuple[Path, str], tmp_path: Path
) -> None:
    """Subsets whose folders are gone join from an earlier report's JSON: their rows beside the
    folder's, each comparison pooled again over all of them (the t-interval and test over the
    four subsets), and a subset seed in both is refused before anything is evaluated."""
    item5 = _copy(reported_item5[0], tmp_path / "ITEM5")  # evaluated and reported once
    mine = json.loads((item5 / "item5.json").read_text())
    # the same report as if subsets 5 and 6 had made it, each comparison with gains of its own
    earlier = json.loads((item5 / "item5.json").read_text())
    earlier["pooled_subset_seeds"] = [5, 6]
    for rows in (earlier["subsets"], earlier["real"]):
        for row, seed in zip(rows, [5, 6], strict=True):
            row["subset_seed"] = seed
    for k, row in enumerate(earlier["pooled"]):
        row["per_subset"] = [1.0 + k, -2.0 * k - 0.5]
    earlier["subsets"][0]["fd_domain"] = 1000.0
    (tmp_path / "earlier.json").write_text(json.dumps(earlier))

    done = subprocess.run(
        [*REPORT, str(item5), *QUICK, "--earlier", str(tmp_path / "earlier.json")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "gaunet evaluate" not in done.stdout  # the folder's subsets were evaluated already
    report = json.loads((item5 / "item5.json").read_text())
    assert report["pooled_subset_seeds"] == [0, 1, 5, 6]
    assert [r["subset_seed"] for r in report["subsets"]] == [0, 1, 5, 6]
    assert [r["subset_seed"] for r in report["real"]] == [0, 1, 5, 6]
    fd = [r["fd_domain"] for r in mine["subsets"]] + [1000.0, earlier["subsets"][1]["fd_domain"]]
    assert report["mean"]["fd_domain"] == pytest.approx(sum(fd) / 4)
    assert report["earlier"][0]["subset_seeds"] == [5, 6]
    compared = 0
    for row, ours, theirs in zip(report["pooled"], mine["pooled"], earlier["pooled"], strict=True):
        if "mean" not in ours:
            continue
        values = ours["per_subset"] + theirs["per_subset"]
        half = stats.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2
        assert row["per_subset"] == pytest.approx(values) and row["n"] == 4
        assert row["mean"] == pytest.approx(np.mean(values))
        assert (row["low"], row["high"]) == pytest.approx((row["mean"] - half, row["mean"] + half))
        assert row["p"] == pytest.approx(stats.ttest_1samp(values, 0.0).pvalue)
        compared += 1
    assert compared == len(EXPECTED) * 2
    text = (item5 / "item5.md").read_text()
    assert "Subset seeds 5, 6 come from an earlier report" in text
    assert "| 5 | " in text and "| 1000.0 |" in text

    earlier["pooled_subset_seeds"] = [1, 7]  # subset 1 is in the folder too
    (tmp_path / "clash.json").write_text(json.dumps(earlier))
    before = (item5 / "item5.json").read_bytes()
    clash = subprocess.run(
        [*REPORT, str(item5), *QUICK, "--earlier", str(tmp_path / "clash.json")],
        capture_output=True,
        text=True,
    )
    assert clash.returncode != 0 and "Traceback" not in clash.stderr
    assert "clash.json: subset seeds [1] are in both" in clash.stderr
    assert (item5 / "item5.json").read_bytes() == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": 64}, "its images were 64 px, here 28"),
        ({"benchmark_data": "/elsewhere/pneumoniamnist.npz"}, "used 'pneumoniamnist.npz'"),
        ({"pooled_subset_seeds": [3, 4]}, "subset seeds [3] are in both"),
        ({"pooled": None}, "not an item5_report.py JSON (no 'pooled')"),
    ],
)
def test_an_earlier_report_that_does_not_fit_is_named(
    tmp_path: Path, change: dict, message: str
) -> None:
    fits = {
        "size": 28,
        "benchmark_data": "../shared/data/breastmnist.npz",
        "subsets": [],
        "pooled": [],
        "pooled_subset_seeds": [0, 1],
    }
    (tmp_path / "fits.json").write_text(json.dumps(fits))
    read = item5_report.read_earlier(tmp_path / "fits.json", [2, 3], 28, "/data/breastmnist.npz")
    assert read == fits  # the same file name in another folder is the same data
    earlier = {k: v for k, v in (fits | change).items() if v is not None}
    (tmp_path / "earlier.json").write_text(json.dumps(earlier))
    with pytest.raises(item5_report.ReportError, match=re.escape(message)):
        item5_report.read_earlier(tmp_path / "earlier.json", [2, 3], 28, "/data/breastmnist.npz")
