"""An empty val or test split is explained whenever it happens: with 6 to 9 patients the
seeded grouped 7:1:2 split can leave val without any, and `data inspect` said nothing because
the cause was only looked for under 6 groups."""

from __future__ import annotations

import numpy as np

from gaunet.data import ImageSet
from gaunet.data.inspect import format_report, summarize
from gaunet.data.splits import empty_split_cause, make_split


def _six_patients(split: np.ndarray | None = None) -> ImageSet:
    """6 patients of 10 images, one diagnosis each, 3 per class."""
    groups = np.repeat([f"p{i}" for i in range(6)], 10)
    labels = np.repeat([0, 0, 0, 1, 1, 1], 10)
    images = np.random.default_rng(0).integers(0, 255, (60, 1, 8, 8), dtype=np.uint8)
    ids = np.asarray([f"i{i}" for i in range(60)])
    return ImageSet(images, labels, ["a", "b"], groups, ids, split=split)


def test_six_patients_leave_val_empty_and_the_cause_says_why() -> None:
    data = _six_patients()
    split = make_split(data.labels, data.groups, seed=0)
    assert "val" not in split and "test" in split  # the case the cause was not given for
    cause = empty_split_cause(split, data.groups, data.labels, seed=0)
    assert cause.startswith("val got no image because the 60 images belong to only 6 groups")
    assert "keeps each group whole" in cause


def test_data_inspect_warns_about_the_empty_val_split() -> None:
    summary = summarize(_six_patients(), seed=0)
    assert summary["counts"]["val"] == {"a": 0, "b": 0}
    assert summary["empty_split"].startswith("val got no image because the 60 images")
    assert "warning  val got no image because" in format_report(summary)


def test_an_official_split_without_val_is_named_too() -> None:
    """Enough patients for a grouped split: the source's own split is what left val empty."""
    data = _six_patients(np.asarray((["train"] * 5 + ["test"] * 5) * 6))
    summary = summarize(data, seed=0)
    assert summary["empty_split"] == "val got no image in the source's own split"


def _six_patient_folder(root) -> str:
    """The six patients as a folder with manifest.csv (path, label, patient_id)."""
    from PIL import Image

    data = _six_patients()
    lines = ["path,label,patient_id"]
    for k, (image, label, group) in enumerate(zip(data.images, data.labels, data.groups)):
        Image.fromarray(image[0]).save(root / f"{k}.png")
        lines.append(f"{k}.png,{data.class_names[label]},{group}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return str(root)


def test_benchmark_says_why_val_is_empty(tmp_path, capsys) -> None:
    """The benchmark gave only "the split has no validation or no test images"."""
    from gaunet.cli import main

    source = _six_patient_folder(tmp_path)
    out = tmp_path.parent / f"{tmp_path.name}-bench"
    command = ["benchmark", "--data", source, "--out", str(out), "--arms", "none",
               "--classifiers", "svm", "--seeds", "1", "--size", "8"]  # fmt: skip
    assert main(command) == 2
    assert "belong to only 6 groups" in capsys.readouterr().err
