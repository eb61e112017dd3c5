"""Demo and prepare inputs that silently mixed results or crashed after minutes of work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gaunet.cli import main

FAST = ["--steps", "2", "--eval-images", "10", "--features", "domain", "--classifiers", "svm",
        "--seeds", "1", "--epochs", "1", "--quiet"]  # fmt: skip


def class_folders(root: Path, classes: list[str], per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (20, 20), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name} ({i + 1}).png")
    return root


def test_demo_out_inside_data_folder_is_refused_before_writing(tmp_path, capsys) -> None:
    """Its rerun read the demo's own PNGs as a class and was refused as another source."""
    data = class_folders(tmp_path / "data", ["a", "b"])
    out = data / "demo"
    assert main(["demo", "--data", str(data), "--out", str(out), *FAST]) == 2
    assert "inside the --data folder" in capsys.readouterr().err
    assert not out.exists()


def test_demo_of_one_class_is_refused_before_training(tmp_path, capsys) -> None:
    """It trained, generated and evaluated, then crashed in the benchmark with a traceback."""
    data = class_folders(tmp_path / "data", ["only"])
    out = tmp_path / "demo"
    assert main(["demo", "--data", str(data), "--out", str(out), *FAST]) == 2
    assert "needs two or more" in capsys.readouterr().err
    assert not (out / "runs").exists() and not (out / "demo.json").exists()


def test_prepare_resumed_from_another_root_is_refused(tmp_path, capsys) -> None:
    """The interrupted run's PNGs of the first --root were kept under the second's name."""
    first = class_folders(tmp_path / "a", ["benign", "malignant", "normal"])
    second = tmp_path / "b"
    class_folders(second, ["benign", "malignant", "normal"])
    for path in second.rglob("*.png"):  # same names, other pixels
        Image.fromarray(255 - np.asarray(Image.open(path))).save(path)
    out = tmp_path / "out"
    args = ["data", "prepare", "busi", "--out", str(out), "--size", "16", "--quiet"]
    assert main([*args, "--root", str(first)]) == 0
    meta = json.loads((out / "prepare.json").read_text())
    (out / "prepare.json").write_text(json.dumps({**meta, "status": "incomplete"}))
    capsys.readouterr()
    assert main([*args, "--root", str(second)]) == 2
    assert "another --root" in capsys.readouterr().err
    (tmp_path / "link").symlink_to(first)
    assert main([*args, "--root", str(tmp_path / "link")]) == 0  # the same root, named otherwise


def test_demo_continued_on_a_resplit_source_is_refused(tmp_path) -> None:
    """A source with its own split changed under a demo: evaluate ran on the new test split
    (which may hold the generator's training images), then downstream failed puzzlingly."""
    from gaunet.demo import Demo, DemoSettings
    from gaunet.errors import GaunetError

    root = class_folders(tmp_path / "busi", ["benign", "malignant", "normal"], per_class=10)
    prepared = tmp_path / "prepared"
    args = ["data", "prepare", "busi", "--root", str(root), "--out", str(prepared), "--quiet"]
    assert main([*args, "--size", "16"]) == 0
    settings = DemoSettings(data=str(prepared), out=str(tmp_path / "demo"), train_steps=2)
    Demo(settings).step_split()
    before = (prepared / "manifest.csv").read_text()
    assert main([*args, "--size", "16", "--seed", "1", "--overwrite"]) == 0
    assert (prepared / "manifest.csv").read_text() != before  # another split
    settings = DemoSettings(data=str(prepared), out=str(tmp_path / "demo"), train_steps=2)
    with pytest.raises(GaunetError, match="another version"):
        _ = Demo(settings).data
