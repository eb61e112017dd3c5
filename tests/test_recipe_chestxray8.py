"""`gaunet data prepare chestxray8`: Data_Entry_2017.csv + images*/ folders (NIH layout)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gaunet.cli import main
from gaunet.data.recipes.chestxray8 import FINDINGS
from gaunet.data.recipes.common import groups_in_two_splits, read_prepared_manifest

HEADER = ["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age",
          "Patient Gender", "View Position", "OriginalImage[Width", "Height]",
          "OriginalImagePixelSpacing[x", "y]"]  # fmt: skip
FINDINGS_USED = ["Effusion", "Hernia", "Pleural_Thickening"]


def make_nih(root: Path, official: bool) -> None:
    """Patients 1-12: images with one finding, two findings, or none; test_list = patients 11-12."""
    rng = np.random.default_rng(0)
    rows = []
    for patient in range(1, 13):
        labels = [*FINDINGS_USED, "Effusion|Infiltration", "No Finding"]
        for follow_up, label in enumerate(labels):
            name = f"{patient:08d}_{follow_up:03d}.png"
            folder = root / f"images_{1 + patient % 2:03d}" / "images"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(folder / name)
            rows.append([name, label, follow_up, patient, 50, "M", "PA", 16, 16, 0.14, 0.14])
    with open(root / "Data_Entry_2017.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    if official:
        test = [row[0] for row in rows if row[3] > 10]
        (root / "test_list.txt").write_text("\n".join(test) + "\n")
        train = [row[0] for row in rows if row[3] <= 10]
        (root / "train_val_list.txt").write_text("\n".join(train) + "\n")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], {name: 12 for name in FINDINGS_USED}),
        (["--no-finding"], {**{name: 12 for name in FINDINGS_USED}, "No Finding": 12}),
        (["--multi-label"], {"Hernia": 12, "Pleural_Thickening": 12, "Effusion": 24}),
    ],
)
def test_labelling_modes(tmp_path, flags, expected):
    make_nih(tmp_path, official=False)
    out = tmp_path / "out"
    assert main(["data", "prepare", "chestxray8", "--root", str(tmp_path), "--out", str(out),
                 "--size", "8", *flags]) == 0  # fmt: skip
    rows = read_prepared_manifest(out)
    assert Counter(row["label"] for row in rows) == expected
    assert all(row["patient_id"] == str(int(row["path"].split("/")[-1][:8])) for row in rows)
    assert not groups_in_two_splits([r["patient_id"] for r in rows], [r["split"] for r in rows])
    if "--multi-label" in flags:
        assert Counter(row["labels"] for row in rows)["Effusion|Infiltration"] == 12


def test_official_split_and_default_class_list(tmp_path, capsys):
    make_nih(tmp_path, official=True)
    out = tmp_path / "out"
    assert main(["data", "prepare", "chestxray8", "--root", str(tmp_path), "--out", str(out),
                 "--size", "8"]) == 0  # fmt: skip
    rows = read_prepared_manifest(out)
    for row in rows:
        assert (row["split"] == "test") == (int(row["patient_id"]) > 10)
    assert {row["split"] for row in rows} == {"train", "val", "test"}
    printed = capsys.readouterr().out
    assert "12 multi-finding images left out" in printed
    assert len(FINDINGS) == 14


def test_official_lists_that_miss_images_are_said_unused(tmp_path, capsys):
    """train_val_list.txt and test_list.txt that miss even one image: the recipe splits 7:1:2
    instead, as before, and now says why (it did so without a word)."""
    make_nih(tmp_path, official=True)
    listed = (tmp_path / "test_list.txt").read_text().split()
    (tmp_path / "test_list.txt").write_text("\n".join(listed[1:]) + "\n")
    out = tmp_path / "out"
    assert main(["data", "prepare", "chestxray8", "--root", str(tmp_path), "--out", str(out),
                 "--size", "8"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert (
        "7:1:2" in printed and "the official split names 35 of the 36, so it is unused" in printed
    )
