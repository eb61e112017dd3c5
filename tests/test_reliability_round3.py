"""Issue 30, round 3: `gaunet generate --per-class` bounded by the free disk, `gaunet evaluate`
on a real set of one class, and the readers' quiet corners (NaN pixels in an .npz, dot-named
folders, tiny classes). Tiny settings; nothing here depends on the machine's speed."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
from data_helpers import make_tree
from PIL import Image
from train_helpers import tiny_train

from gaunet.cli import main
from gaunet.data import load_source, skip_summary
from gaunet.data.phantom import make_phantom
from gaunet.data.readers.items import SourceError
from gaunet.errors import GaunetError
from gaunet.generate import (
    DISK_SHARE,
    MANIFEST_ROW_BYTES,
    estimated_bytes_per_image,
    generate_dataset,
)
from gaunet.metrics.verdict import NOTE, UNUSABLE, image_verdicts, verdict_lines

FAST = ["--size", "16", "--domain-steps", "20", "--domain-size", "16", "--kid-subsets", "5"]
CLASSES = ["round-smooth", "spiculated-irregular"]  # the phantom's first two classes


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_train(tmp_path_factory.mktemp("round3") / "run", steps=2)


def _error_line(err: str, *needles: str) -> str:
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 1, err
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


# ----- generate --per-class: bounded by the free disk ---------------------------------------
@pytest.mark.parametrize("fmt", ["png", "npz"])
def test_a_per_class_beyond_the_disk_is_refused_before_anything_is_written(
    run, tmp_path, capsys, fmt
):
    out = tmp_path / "new" / "syn"
    args = ["generate", "--run", str(run), "--out", str(out), "--format", fmt]
    assert main([*args, "--per-class", "1000000000"]) == 2
    line = _error_line(capsys.readouterr().err, "1,000,000,000 images per class", "free")
    assert "estimate:" in line and "per image" in line and "Nothing written" in line
    assert not (tmp_path / "new").exists()  # not even the output folder
    with pytest.raises(GaunetError, match="would need up to"):
        generate_dataset(run, out, per_class=10**9, fmt=fmt)
    assert not (tmp_path / "new").exists()


def test_the_disk_bound_is_exact_and_a_fitting_per_class_is_written(
    run, tmp_path, capsys, monkeypatch
):
    """With a known free space: the largest per-class the message names is written, one more
    is refused."""
    per_image = estimated_bytes_per_image(16, 1, "png", 4096)
    free = int((3 * 2 * per_image + 100) / DISK_SHARE) + 1  # room for 3 per class, not 4
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 * free, 9 * free, free))
    out = tmp_path / "syn"
    args = ["generate", "--run", str(run), "--out", str(out), "--quiet"]
    assert main([*args, "--per-class", "4"]) == 2
    _error_line(capsys.readouterr().err, "at most 3 per class fit")
    assert not out.exists()
    assert main([*args, "--per-class", "3"]) == 0
    with open(out / "manifest.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 6


@pytest.mark.parametrize("size", [8, 16, 64, 200])
@pytest.mark.parametrize("channels", [1, 3])
def test_the_estimate_bounds_a_png_of_pure_noise(size, channels):
    """Noise does not compress: the worst case a generator can write stays under the bound."""
    pixels = np.random.default_rng(size).integers(0, 256, (size, size, channels), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(buffer, format="PNG")
    bound = estimated_bytes_per_image(size, channels, "png", block=1) - MANIFEST_ROW_BYTES
    assert len(buffer.getvalue()) <= bound


def test_per_class_below_one_is_refused(run, tmp_path, capsys):
    code = main(["generate", "--run", str(run), "--out", str(tmp_path / "o"), "--per-class", "0"])
    assert code == 2
    _error_line(capsys.readouterr().err, "--per-class must be at least 1")
    assert not (tmp_path / "o").exists()


# ----- evaluate on a real set of one class ------------------------------------------------------
def _one_class_folder(root: Path, n: int, seed: int, manifest: bool) -> Path:
    """root/round-smooth/*.png (phantom lesions of one class), with a `gaunet generate`-style
    manifest.csv when `manifest`."""
    images, labels, names, _ = make_phantom(n, 2, size=16, seed=seed)
    rows = []
    for i, image in enumerate(images[labels == 0]):
        relative = f"{names[0]}/{i:05d}.png"
        (root / names[0]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / relative)
        rows.append([relative, 0, names[0], f"s{i}", seed, "0" * 64])
    if manifest:
        with open(root / "manifest.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "label", "class", "source_id", "seed", "checkpoint_sha256"])
            writer.writerows(rows)
    return root


def test_evaluate_on_one_real_class_says_class_fidelity_is_not_applicable(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    real = _one_class_folder(tmp_path / "real", 24, seed=0, manifest=False)
    synthetic = _one_class_folder(tmp_path / "syn", 10, seed=5, manifest=True)
    out = tmp_path / "eval" / "result.json"
    args = ["evaluate", "--real", str(real), "--synthetic", str(synthetic), "--json", str(out)]
    assert main([*args, "--features", "domain", *FAST]) == 0
    result = json.loads(out.read_text())
    assert result["classes"] == [CLASSES[0]]
    reason = result["not_applicable"]["PA"]
    assert "1 class" in reason and "two or more" in reason
    assert result["not_applicable"]["domain_classifier"] == reason
    assert "PA" not in result and "domain_classifier" not in result
    assert result["features"]["domain"] == {"available": False, "reason": reason}
    assert set(result["memorization"]) == {"pixel"}  # the rest of the evaluation still runs
    assert result["samples"]["synthetic"] == 10
    printed = capsys.readouterr().out
    verdict = printed[printed.index("verdict:") :]
    assert "NOTE (class fidelity): Not applicable: the real set has 1 class" in verdict
    assert "chance" not in printed and "PA " not in verdict and "PA =" not in printed
    notes = [v for v in result["verdicts"] if v["topic"] == "class fidelity"]
    assert [v["level"] for v in notes] == [NOTE]


def test_an_old_one_class_result_with_pa_gets_no_false_verdict():
    """A result written before `not_applicable` existed (PA 1.000 on one class): no verdict
    rests on that PA or on the domain classifier."""
    counts = {"a": 20}
    result = {
        "classes": ["a"],
        "reference_split": "test",
        "samples": {"per_class_reference": counts},
        "features": {},
        "PA": {
            "value": 1.0,
            "n": 10,
            "per_class": {"a": {"value": 1.0, "n": 10}},
            "real_reference_accuracy": {"value": 1.0},
        },
        "memorization": {"pixel": {"copy_rate": 0.0}, "domain": {"copy_rate": 0.9}},
    }
    verdicts = image_verdicts(result)
    text = "\n".join(verdict_lines(verdicts))
    assert "chance" not in text and "PA 1.000" not in text and "(domain)" not in text
    assert any(v.level == NOTE and "Not applicable" in v.message for v in verdicts)
    assert not [v for v in verdicts if v.level == UNUSABLE and v.topic == "class fidelity"]


@pytest.mark.parametrize("classes", [["a"], ["a", "b"]])
def test_nothing_judged_says_truly_why_when_inception_ran_without_prdc(classes):
    """Inception ran but the sets were too small for precision/recall: the warning says that,
    not that there are no Inception features."""
    result = {
        "classes": classes,
        "features": {"inception": {"available": True, "overall": {"PRDC": None}}},
        "memorization": {"pixel": {"copy_rate": 0.0}},
    }
    if len(classes) == 1:
        result["not_applicable"] = {"PA": "not applicable: one class"}
    nothing = [v for v in image_verdicts(result) if v.message.startswith("Nothing here")]
    assert len(nothing) == 1
    assert "Inception features gave no precision or recall" in nothing[0].message
    assert "no Inception" not in nothing[0].message


# ----- readers: NaN pixels, dot-named folders, tiny classes --------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_npz_pixels_are_one_note_with_the_count(tmp_path, bad, dtype):
    images = np.random.default_rng(0).uniform(0, 1, (10, 12, 12)).astype(dtype)
    images[[1, 4, 7], 3, 5] = bad
    images[4, 0, 0] = bad  # two bad pixels in one image: still one image
    labels = np.asarray([[0], [1]] * 5)
    path = tmp_path / "floats.npz"
    np.savez(path, train_images=images, train_labels=labels)
    data = load_source(path, size=12, channels=1)
    notes = data.info["notes"]
    assert list(notes.values()) == [3] and "NaN or inf" in next(iter(notes))
    lines = skip_summary(data).splitlines()
    assert lines == [
        f"note: 3 image(s) in {path}: had NaN or inf pixels, set to the image's lowest finite value"
    ]
    assert data.images.dtype == np.uint8 and len(data) == 10


def test_a_finite_npz_has_no_note(tmp_path):
    path = tmp_path / "fine.npz"
    images = np.random.default_rng(0).uniform(0, 1, (4, 12, 12)).astype(np.float32)
    np.savez(path, train_images=images, train_labels=np.asarray([[0], [1], [0], [1]]))
    assert "notes" not in load_source(path, size=12, channels=1).info


@pytest.mark.parametrize("name", ["...", ".hidden", ".git"])
def test_a_dot_named_folder_is_one_line_saying_it_is_not_a_class(tmp_path, name):
    root = make_tree(tmp_path / "src", {"a": 2, "b": 2})
    make_tree(root / name, {"inner": 2})  # images inside, which are not read
    data = load_source(root, size=16, channels=1)
    assert data.class_names == ["a", "b"] and len(data) == 4
    assert len(data.problems) == 1
    problem = data.problems[0]
    assert problem.path.endswith(name) and "not a class" in problem.reason


def _tiny_class_source(root: Path, counts: dict[str, int], generated: bool) -> Path:
    """Class folders of phantom-like PNGs; with `generated`, the manifest `gaunet generate`
    writes beside them."""
    rows = []
    for label, (name, n) in enumerate(counts.items()):
        images, _, _, _ = make_phantom(n, 2, size=16, seed=label)
        for i in range(n):
            relative = f"{name}/{i:06d}.png"
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i]).save(root / relative)
            rows.append([relative, label, name, f"s{label}{i}", 0, "0" * 64, name, "1.0"])
    if generated:
        header = ["path", "label", "class", "source_id", "seed", "checkpoint_sha256"]
        with open(root / "manifest.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([*header, "folder", "noise_scale"])
            writer.writerows(rows)
    return root


@pytest.mark.parametrize("generated", [False, True], ids=["plain-folder", "generate-folder"])
def test_one_rule_for_a_class_of_one_image_in_both_sources(tmp_path, generated):
    root = _tiny_class_source(tmp_path / "syn", {CLASSES[0]: 1, CLASSES[1]: 6}, generated)
    data = load_source(root, size=16, channels=1)
    assert data.class_names == [CLASSES[1]] and len(data) == 6
    left_out = [p for p in data.problems if "left out" in p.reason]
    assert len(left_out) == 1 and left_out[0].path.endswith(CLASSES[0])
    assert left_out[0].reason.startswith("class has 1 usable image(s); at least 2 are needed")


@pytest.mark.parametrize("generated", [False, True], ids=["plain-folder", "generate-folder"])
def test_one_image_per_class_is_refused_alike_in_both_sources(tmp_path, generated):
    root = _tiny_class_source(tmp_path / "syn", {CLASSES[0]: 1, CLASSES[1]: 1}, generated)
    with pytest.raises(SourceError, match="nothing usable found") as error:
        load_source(root, size=16, channels=1)
    assert str(error.value).count("class has 1 usable image(s)") == 2


@pytest.mark.parametrize("generated", [False, True], ids=["plain-folder", "generate-folder"])
def test_evaluate_treats_a_tiny_synthetic_class_alike_in_both_sources(
    tmp_path, capsys, monkeypatch, generated
):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    synthetic = _tiny_class_source(tmp_path / "syn", {CLASSES[0]: 1, CLASSES[1]: 6}, generated)
    out = tmp_path / "result.json"
    args = ["evaluate", "--real", "phantom:n=20,classes=2", "--synthetic", str(synthetic)]
    assert main([*args, "--features", "domain", "--json", str(out), *FAST]) == 0
    result = json.loads(out.read_text())
    assert result["samples"]["per_class_synthetic"] == {CLASSES[0]: 0, CLASSES[1]: 6}
    assert "class has 1 usable image(s)" in capsys.readouterr().err  # said, not silent
    (missing,) = [v for v in result["verdicts"] if v["topic"] == "classes"]
    assert f"No synthetic image of class {CLASSES[0]}" in missing["message"]
