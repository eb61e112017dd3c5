"""`gaunet demo` end to end on a tiny phantom: every artefact, the report, resume, refusals."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from gaunet.cli import build_parser, main
from gaunet.demo import STEPS, Demo, DemoSettings
from gaunet.downstream.stats import paired_difference
from gaunet.report.html import verdict


def tiny(out: Path) -> DemoSettings:
    """Seconds of work: 5 generator steps (one log interval), 1 epoch, 2 seeds, domain features only."""
    return DemoSettings(
        data="phantom:n=30",
        out=str(out),
        train_steps=5,
        fraction=0.5,
        eval_images=20,
        features=["domain"],
        domain_steps=20,
        classifiers=["svm", "resnet18"],
        seeds=2,
        epochs=1,
        width=0.25,
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo"
    Demo(tiny(out)).run()
    return out


ARTEFACTS = (
    "demo.json", "split.csv", "subset.json", "inspect/summary.json", "inspect/contact-sheet.png",
    "runs/gaunet/run.json", "runs/gaunet/metrics.jsonl", "synthetic/gaunet/manifest.csv",
    "figures/figure2-grid.png", "figures/training-curves.png", "evaluate/gaunet/metrics.json",
    "evaluate/gaunet/closest-pairs-pixel.png", "evaluate/gaunet/closest-pairs-domain.png",
    "downstream/results.csv", "downstream/summary.json", "report.html",
)  # fmt: skip


def test_every_artefact_and_step_summary(demo_dir: Path) -> None:
    missing = [a for a in ARTEFACTS if not (demo_dir / a).is_file()]
    assert not missing
    state = json.loads((demo_dir / "demo.json").read_text())
    assert list(state["steps"]) == list(STEPS)
    assert all(step["summary"] for step in state["steps"].values())


def test_generator_saw_only_the_low_data_subset(demo_dir: Path) -> None:
    subset = json.loads((demo_dir / "subset.json").read_text())
    with open(demo_dir / "runs" / "gaunet" / "split.csv") as handle:
        trained = {row["id"] for row in csv.DictReader(handle) if row["split"] == "train"}
    with open(demo_dir / "split.csv") as handle:
        splits = {row["id"]: row["split"] for row in csv.DictReader(handle)}
    assert trained == set(subset["ids"])
    assert {splits[i] for i in trained} == {"train"}
    assert len(trained) < sum(1 for s in splits.values() if s == "train")


def test_report_sections_and_verdict_match_the_numbers(demo_dir: Path) -> None:
    text = (demo_dir / "report.html").read_text().replace("&#x27;", "'")
    for heading in ("1. The data", "2. Training", "3. Generated images", "4. How good",
                    "5. Do the synthetic images help", "6. Is the generator copying",
                    "7. Run it on your own data", "In one sentence"):  # fmt: skip
        assert heading in text
    assert "src='http" not in text and 'src="http' not in text
    metrics = json.loads((demo_dir / "evaluate" / "gaunet" / "metrics.json").read_text())
    assert f"{metrics['noise_diversity']['ratio']:.3f} (" in text  # the report shows the number
    from gaunet.metrics.verdict import image_verdicts

    overall = image_verdicts(metrics)[0]  # one verdict, in the report and the step summary
    assert f"The GAU-Net images:</b> {overall.message}" in text
    state = json.loads((demo_dir / "demo.json").read_text())
    assert f"verdict: {overall.message}" in state["steps"]["evaluate"]["summary"]
    accuracy = metrics["domain_classifier"]["real_test_accuracy"]
    assert f"real test accuracy {accuracy:.3f}" in state["steps"]["evaluate"]["summary"]
    with open(demo_dir / "downstream" / "results.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r["metric"] == "accuracy"]
    assert {r["arm"] for r in rows} == {"none", "classic", "run:gaunet", "run:gaunet+classic"}
    for classifier in ("svm", "resnet18"):
        by_arm = {
            arm: [float(r["value"]) for r in sorted(rows, key=lambda r: r["seed"])
                  if r["classifier"] == classifier and r["arm"] == arm]
            for arm in ("none", "run:gaunet")
        }  # fmt: skip
        stat = paired_difference(np.asarray(by_arm["run:gaunet"]), np.asarray(by_arm["none"]))
        gain = {k: (None if np.isnan(v) else v) for k, v in stat.items()}
        _, sentence = verdict(classifier, "run:gaunet", gain)
        assert sentence in text
        assert f"{100 * stat['mean']:+.1f}" in sentence


def test_rerun_skips_finished_steps_and_continues_an_interrupted_one(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "demo"
    shutil.copytree(demo_dir, copy)
    run_json = copy / "runs" / "gaunet" / "run.json"
    before = run_json.stat().st_mtime_ns
    (copy / "evaluate" / "gaunet" / "metrics.json").unlink()
    (copy / "report.html").unlink()

    def interrupted(*args: object, **kwargs: object) -> dict:
        time.sleep(0.5)  # half a second of work, then Ctrl-C
        raise KeyboardInterrupt

    recorded = json.loads((copy / "demo.json").read_text())["steps"]["evaluate"]["seconds"]
    monkeypatch.setattr("gaunet.metrics.evaluate.evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Demo(tiny(copy)).run()
    assert not (copy / "evaluate" / "gaunet" / "metrics.json").exists()
    lost = json.loads((copy / "demo.json").read_text())["interrupted_seconds"]["evaluate"]
    assert lost >= 0.5  # the interrupted attempt's time is kept (it was lost)
    monkeypatch.undo()
    Demo(tiny(copy)).run()
    assert run_json.stat().st_mtime_ns == before  # training was not repeated
    state = json.loads((copy / "demo.json").read_text())
    assert state["steps"]["evaluate"]["seconds"] >= recorded + lost  # and counted in the step's
    assert state["interrupted_seconds"] == {}
    assert (copy / "evaluate" / "gaunet" / "metrics.json").is_file()
    assert (copy / "report.html").is_file()


def test_other_settings_in_the_same_folder_are_refused(demo_dir: Path, capsys) -> None:
    code = main(["demo", "--data", "phantom:n=30", "--out", str(demo_dir), "--seeds", "5"])
    assert code == 2
    assert "was run with other" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--fraction", "0"], "--fraction must be in (0, 1]"),
        (["--seeds", "0"], "--seeds must be at least 1, not 0"),
        (["--epochs", "0"], "--epochs must be at least 1, not 0"),
        (["--eval-images", "2"], "--eval-images must be at least 10, not 2"),
        (["--minutes", "0"], "--minutes must be a number above 0"),
        (["--minutes", "-1"], "--minutes must be a number above 0"),
        (["--steps", "0"], "--steps must be at least 1"),
        (["--threads", "-2"], "--threads must be at least 0"),
        (["--classifiers", "resnet18,foo"], "unknown classifier 'foo'"),
        (["--features", "vgg"], "unknown extractor 'vgg'"),
        (["--data", "/no/such/data"], "/no/such/data: no such file or folder"),
    ],
)
def test_bad_settings_are_refused_before_the_folder_is_pinned_to_them(
    args: list[str], says: str, tmp_path: Path, capsys
) -> None:
    """Each was found at its own step (the classifiers after training and evaluation), by
    then saved in demo.json, so the rerun with the fix was refused as other settings."""
    out = tmp_path / "d"
    assert main(["demo", "--out", str(out), *args]) == 2
    assert says in capsys.readouterr().err
    assert not (out / "demo.json").exists()


def test_cli_defaults_are_the_documented_budget() -> None:
    args = build_parser().parse_args(["demo"])
    assert (args.data, args.out, args.minutes, args.seeds) == ("auto", "demo", 3.0, 3)
    assert args.classifiers == "resnet18,svm"


def test_baselines_join_the_grid_the_metrics_and_the_benchmark(tmp_path: Path) -> None:
    from PIL import Image

    from gaunet.report.compare_grid import grid_pixels, tile_side

    settings = tiny(tmp_path / "demo")
    settings.baselines, settings.classifiers, settings.seeds = True, ["svm"], 1
    settings.control = True  # the copies+classic control arm too
    out = Demo(settings).run().parent
    with Image.open(out / "figures" / "figure2-grid.png") as grid:
        assert grid.size == grid_pixels(3, 2 * 3, tile_side(32))  # real + 3 runs, 3 rows/class
    for model in ("gan", "cgan"):
        assert (out / "evaluate" / model / "metrics.json").is_file()
    with open(out / "downstream" / "results.csv") as handle:
        arms = {row["arm"] for row in csv.DictReader(handle)}
    assert arms == {
        "none",
        "classic",
        "run:gaunet",
        "run:gan",
        "run:cgan",
        "run:gaunet+classic",
        "copies+classic",
    }
    text = (out / "report.html").read_text()
    assert "GAN images" in text and "cGAN images" in text
    # the combined arm is judged against classic augmentation alone as well, and against the
    # copies control (extra optimiser steps without new images); the control itself is not
    # judged against itself
    assert "GAU-Net images + classic augmentation, against classic augmentation alone" in text
    combined = "GAU-Net images + classic augmentation, against plain copies of the real images"
    assert combined in text
    assert "plain copies of the real images + classic augmentation, against" not in text
