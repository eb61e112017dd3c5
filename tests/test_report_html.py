"""The demo report: verdict sentences follow the numbers; the HTML is self-contained."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gaunet.demo.report import chance_note, headline, render_report, write_report
from gaunet.downstream.report import summarise
from gaunet.downstream.stats import paired_difference
from gaunet.report.html import arm_name, verdict


def _gain(with_values: list[float], without_values: list[float]) -> dict:
    """A gain as summary.json stores it (NaN -> None)."""
    stat = paired_difference(np.asarray(with_values), np.asarray(without_values))
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in stat.items()}


def test_an_svm_with_one_difference_on_every_seed_is_deterministic() -> None:
    """The SVM fits the same images the same way on every seed; a network's seeds differ, so
    for it the same difference is chance and more seeds are the remedy."""
    gain = _gain([0.75, 0.75, 0.75], [0.70, 0.70, 0.70])
    assert "deterministic" in verdict("svm", "run:gaunet", gain)[1]
    assert "deterministic" not in verdict("resnet18", "run:gaunet", gain)[1]


@pytest.mark.parametrize(("p", "shown"), [(0.0496, "0.0496"), (0.0504, "0.0504"), (0.05, "0.05"),
                                          (0.031, "0.031"), (0.2, "0.2")])  # fmt: skip
def test_a_p_value_is_never_rounded_onto_the_05_line(p: float, shown: str) -> None:
    from gaunet.report.html import p_text

    assert p_text(p) == shown


@pytest.mark.parametrize(
    ("arm", "name"),
    [
        ("none", "none (real images only)"),
        ("run:gaunet", "GAU-Net images"),
        ("run:gaunet+classic", "GAU-Net images + classic augmentation"),
        ("copies+classic", "plain copies of the real images + classic augmentation"),
    ],
)
def test_arm_names_say_what_was_added(arm: str, name: str) -> None:
    assert arm_name(arm) == name


@pytest.mark.parametrize(
    ("with_values", "without_values", "kind", "phrase"),
    [
        ([0.80, 0.82, 0.81, 0.83], [0.70, 0.71, 0.72, 0.70], "better", "helped by"),
        ([0.60, 0.63, 0.61, 0.59], [0.70, 0.71, 0.72, 0.70], "worse", "hurt, by"),
        ([0.70, 0.75, 0.68], [0.72, 0.69, 0.71], "none", "no significant difference"),
        # a network whose seeds gave one difference: by chance, not deterministic
        ([0.75, 0.75, 0.75], [0.70, 0.70, 0.70], "none", "by chance"),
        ([0.75], [0.70], "none", "only one seed"),
    ],
)
def test_verdict_follows_the_paired_difference(with_values, without_values, kind, phrase):
    gain = _gain(with_values, without_values)
    got_kind, sentence = verdict("resnet18", "run:gaunet", gain)
    assert got_kind == kind
    assert phrase in sentence
    assert sentence.startswith("ResNet-18 with GAU-Net images")
    mean = 100 * (np.mean(with_values) - np.mean(without_values))
    shown = f"{abs(mean):.1f}" if kind != "none" else f"{mean:+.1f}"
    assert shown in sentence
    if gain["p"] is not None:
        assert f"p = {gain['p']:.2g}" in sentence
        assert f"± {gain['half'] * 100:.1f}" in sentence


def _rows(arm: str, accuracies: list[float]) -> list[dict]:
    """The SVM is deterministic (same value every seed); the ResNet varies."""
    return [
        {"classifier": c, "arm": arm, "fraction": "0.25", "seed": s, "metric": m, "value": v}
        for c in ("svm", "resnet18")
        for s, a in enumerate(accuracies)
        for m, v in (("accuracy", a if c == "resnet18" else accuracies[0]), ("auc", a))
    ]


def _png(path: Path, size: tuple[int, int] = (40, 20)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 30, 30)).save(path)


@pytest.fixture()
def demo_folder(tmp_path: Path) -> Path:
    """A demo folder with every artefact the report reads, made by hand."""
    settings = {
        "data": "my data/set.npz", "minutes": 4.0, "train_steps": None, "fraction": 0.25,
        "size": 32, "channels": 1, "seed": 0, "baselines": False, "eval_images": 100,
        "features": ["inception", "domain"], "classifiers": ["svm", "resnet18"], "seeds": 3,
        "epochs": 15, "patience": 5, "width": 0.5, "threads": 1,
    }  # fmt: skip
    steps = {"inspect": {"seconds": 1.0, "summary": "60 images"}}
    (tmp_path / "demo.json").write_text(json.dumps({"settings": settings, "steps": steps}))
    counts = {"a": 10, "b": 20}
    summary = {
        "source": "my data/set.npz", "kind": "npz", "images": 30, "classes": ["a", "b"],
        "counts": {s: counts for s in ("train", "val", "test", "total")}, "split": "official",
        "groups": 30, "size": 32, "channels": 1, "skipped": 0,
    }  # fmt: skip
    (tmp_path / "inspect").mkdir()
    (tmp_path / "inspect" / "summary.json").write_text(json.dumps(summary))
    _png(tmp_path / "inspect" / "contact-sheet.png")
    (tmp_path / "subset.json").write_text(
        json.dumps({"fraction": 0.25, "ids": ["x", "y"], "counts": {"a": 1, "b": 1}})
    )
    (tmp_path / "runs" / "gaunet").mkdir(parents=True)
    (tmp_path / "runs" / "gaunet" / "run.json").write_text(
        json.dumps({"steps": 90, "wall_seconds": 240, "images_per_second": 35, "train_images": 2})
    )
    _png(tmp_path / "figures" / "training-curves.png")
    _png(tmp_path / "figures" / "figure2-grid.png")
    ci = {"value": 0.5, "ci95": [0.4, 0.6]}
    part = {
        "n_real": 100,
        "n_synthetic": 100,
        "FD_domain": 3.2,
        "KID": {"mean": 0.01, "std": 0.002},
    }
    part["PRDC"] = {m: ci for m in ("precision", "recall", "density", "coverage")}
    audit = {"copy_rate": 0.05, "ci95": [0.01, 0.1], "n_synthetic": 100, "n_train": 500}
    metrics = {
        "features": {
            "inception": {"available": False, "reason": "Inception weights not installed"},
            "domain": {"available": True, "metric_name": "FD_domain", "overall": part},
        },
        "PA": {**ci, "n": 100, "real_reference_accuracy": {"value": 0.9}},
        "memorization": {"pixel": audit},
    }
    (tmp_path / "evaluate" / "gaunet").mkdir(parents=True)
    (tmp_path / "evaluate" / "gaunet" / "metrics.json").write_text(json.dumps(metrics))
    _png(tmp_path / "evaluate" / "gaunet" / "closest-pairs-pixel.png")
    rows = _rows("none", [0.70, 0.71, 0.72]) + _rows("run:gaunet", [0.80, 0.82, 0.81])
    arms = ["none", "run:gaunet"]
    order = {"classifiers": ["svm", "resnet18"], "fractions": [0.25], "arms": arms}
    entries = summarise(rows, order)
    clean = json.loads(json.dumps(entries).replace("NaN", "null"))
    (tmp_path / "downstream").mkdir()
    (tmp_path / "downstream" / "summary.json").write_text(
        json.dumps({"settings": {"seeds": 3, "size": 32}, "baseline": "none", "entries": clean})
    )
    return tmp_path


def test_report_has_every_section_and_is_self_contained(demo_folder: Path) -> None:
    path = write_report(demo_folder)
    text = path.read_text()
    for heading in ("1. The data", "2. Training", "3. Generated images", "4. How good",
                    "5. Do the synthetic images help", "6. Is the generator copying",
                    "7. Run it on your own data"):  # fmt: skip
        assert heading in text
    sources = re.findall(r"""(?:src|href)=["']([^"']+)""", text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert len(sources) == 4  # contact sheet, curves, grid, closest pairs
    assert "not computed" in text and "Inception weights not installed" in text
    assert "gaunet demo --data &#x27;my data/set.npz&#x27;" in text  # quoted for the shell
    assert "--minutes 4" in text and "--gen-minutes 4" in text


def test_headline_prefers_a_testable_classifier(demo_folder: Path) -> None:
    summary = json.loads((demo_folder / "downstream" / "summary.json").read_text())
    line = headline(summary)
    assert line.startswith("ResNet-18 with GAU-Net images: augmentation helped by 10.0 ±")
    assert line in render_report(demo_folder).replace("&#x27;", "'")


def test_report_of_a_folder_with_only_the_first_steps(tmp_path: Path) -> None:
    (tmp_path / "demo.json").write_text(json.dumps({"settings": {"data": "phantom"}, "steps": {}}))
    text = render_report(tmp_path)
    assert "not inspected yet" in text and "not run yet" in text


@pytest.mark.parametrize(
    ("accuracy", "warned"), [(0.67, True), (0.68, True), (0.75, False), (None, False)]
)  # None: no finished cell (summary.json null), a TypeError before
def test_chance_level_baseline_is_flagged(accuracy: float, warned: bool) -> None:
    """Always answering the largest class (20 of 30) scores 0.667; within 0.02 of it is flagged."""
    stat = {"mean": accuracy, "half": 0.01, "n": 3}
    summary = {
        "entries": [{"classifier": "resnet18", "arm": "none", "metrics": {"accuracy": stat}}]
    }
    note = chance_note(summary, {"a": 10, "b": 20})
    assert bool(note) == warned
    if warned:
        assert "ResNet-18" in note and "0.667" in note


@pytest.mark.parametrize(
    "settings",
    [
        {"data": "phantom"},
        {"data": "my data/x.npz", "train_steps": 5, "fraction": 0.5, "baselines": True,
         "features": ["domain"], "classifiers": ["svm"], "seeds": 2, "width": 0.25,
         "control": True},
    ],
)  # fmt: skip
def test_reproduce_commands_parse_and_carry_the_options(settings: dict) -> None:
    import shlex

    from gaunet.cli import build_parser
    from gaunet.demo import reproduce_commands

    lines = [
        line.split("  #")[0]
        for line in reproduce_commands(settings, num_classes=2).splitlines()
        if line.startswith("gaunet ")
    ]
    assert len(lines) == 7
    parser = build_parser()
    parsed = [parser.parse_args(shlex.split(line)[1:]) for line in lines]
    demo = parsed[0]
    assert demo.data == settings["data"]
    assert demo.train_steps == settings.get("train_steps")
    assert demo.baselines == settings.get("baselines", False)
    assert demo.fraction == settings.get("fraction", 0.25)
    assert demo.classifiers == ",".join(settings.get("classifiers", ["resnet18", "svm"]))
    assert demo.control == settings.get("control", False)
    benchmark = parsed[-1]
    assert ("copies+classic" in benchmark.arms.split(",")) == settings.get("control", False)


def test_report_states_the_image_verdicts_without_contradicting_itself(demo_folder: Path) -> None:
    """The phantom demo's numbers: PA at chance, pixel copy rate 0.95 with domain 0.00 (blur),
    noise ignored. The top box and section 4 give the verdicts of gaunet.metrics.verdict;
    section 6 repeats its copy sentence; nothing calls the images near-copies."""
    from gaunet.metrics.verdict import image_verdicts

    path = demo_folder / "evaluate" / "gaunet" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["classes"] = ["a", "b"]
    metrics["PA"]["per_class"] = {c: {"value": 0.5, "n": 50} for c in ("a", "b")}
    metrics["samples"] = {"per_class_reference": {"a": 10, "b": 20}}
    metrics["memorization"]["pixel"]["copy_rate"] = 0.95
    metrics["memorization"]["domain"] = {**metrics["memorization"]["pixel"], "copy_rate": 0.0}
    metrics["noise_diversity"] = {
        "ratio": 0.05, "within_source": 0.01, "real_pairs": 0.2, "to_source": 0.05,
        "draws": 8, "sources": 16, "per_class": {},
    }  # fmt: skip
    path.write_text(json.dumps(metrics))
    text = render_report(demo_folder).replace("&#x27;", "'")
    verdicts = image_verdicts(metrics)
    assert verdicts[0].level == "unusable"
    top = text.index("The GAU-Net images:")
    assert top < text.index("1. The data")
    assert verdicts[0].message in text[top:]
    section4 = text[text.index("4. How good") : text.index("5. Do the synthetic")]
    for item in verdicts:
        assert item.message in section4
    section6 = text[text.index("6. Is the generator copying") :]
    copy = [x for x in verdicts if x.topic == "copies"]
    assert copy[0].message in section6 and "over-smoothing, not copying" in section6
    assert "near-cop" not in text
    # the domain classifier's accuracy (0.9 >= 0.75 for 20 of 30 in the largest class) is
    # printed beside the domain-based numbers
    assert text.count("Domain classifier: real test accuracy 0.900") >= 3


def _summary(arm_values: dict[str, list[float]]) -> dict:
    rows = [row for arm, values in arm_values.items() for row in _rows(arm, values)]
    order = {"classifiers": ["svm", "resnet18"], "fractions": [0.25], "arms": list(arm_values)}
    entries = json.loads(json.dumps(summarise(rows, order)).replace("NaN", "null"))
    return {"baseline": "none", "entries": entries}


@pytest.mark.parametrize(
    ("arm_values", "cautioned"),
    [
        # the GAU-Net images helped and no control ran: the gain may be the extra steps
        ({"none": [0.70, 0.71, 0.72], "run:gaunet": [0.80, 0.82, 0.81]}, True),
        # helped on top of classic against classic alone, no control
        (
            {
                "none": [0.70, 0.71, 0.72],
                "classic": [0.74, 0.75, 0.76],
                "run:gaunet+classic": [0.84, 0.86, 0.85],
            },
            True,
        ),
        # the control ran for images + classic: its verdict answers that arm, no caution
        (
            {
                "none": [0.70, 0.71, 0.72],
                "classic": [0.74, 0.75, 0.76],
                "run:gaunet+classic": [0.84, 0.86, 0.85],
                "copies+classic": [0.84, 0.85, 0.86],
            },
            False,
        ),
        # --control ran, but the images alone helped and copies+classic is not their control
        # (the caution was dropped whenever any copies arm existed)
        (
            {
                "none": [0.70, 0.71, 0.72],
                "run:gaunet": [0.80, 0.82, 0.81],
                "copies+classic": [0.80, 0.81, 0.82],
            },
            True,
        ),
        # only classic helped: nothing to caution about the images
        ({"none": [0.70, 0.71, 0.72], "classic": [0.80, 0.82, 0.81]}, False),
        # the images hurt
        ({"none": [0.70, 0.71, 0.72], "run:gaunet": [0.60, 0.62, 0.61]}, False),
    ],
)
def test_a_gain_without_the_copies_control_is_cautioned(arm_values: dict, cautioned: bool):
    from gaunet.demo.report import control_caution

    text = control_caution(_summary(arm_values))
    assert bool(text) == cautioned
    if cautioned:
        assert "--control" in text and "copies" in text


def test_report_shows_the_control_caution(demo_folder: Path) -> None:
    assert "add --control to the demo command" in render_report(demo_folder)
