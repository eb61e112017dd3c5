"""`gaunet data prepare ham10000`: metadata CSV + two image part folders, grouped by lesion."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from gaunet.cli import main
from gaunet.data.recipes.common import groups_in_two_splits, read_prepared_manifest
from gaunet.data.recipes.ham10000 import CLASSES


def make_ham(root: Path) -> dict[str, str]:
    """Two images per lesion, 10 lesions per class, spread over the two part folders."""
    rng = np.random.default_rng(0)
    lesion_of, image_number = {}, 24306
    rows = []
    for c, dx in enumerate(CLASSES):
        for lesion in range(10):
            lesion_id = f"HAM_{c:03d}{lesion:04d}"
            for _ in range(2):
                image_id = f"ISIC_{image_number:07d}"
                part = root / f"HAM10000_images_part_{1 + image_number % 2}"
                part.mkdir(parents=True, exist_ok=True)
                pixels = rng.integers(0, 255, (15, 20, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(part / f"{image_id}.jpg")
                rows.append([lesion_id, image_id, dx, "histo", "50.0", "male", "back"])
                lesion_of[image_id] = lesion_id
                image_number += 1
    rows.append(["HAM_9999999", "ISIC_9999999", "nv", "histo", "50.0", "male", "back"])  # no file
    with open(root / "HAM10000_metadata.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"])
        writer.writerows(rows)
    return lesion_of


def test_labels_lesion_groups_split(tmp_path, capsys):
    lesion_of = make_ham(tmp_path)
    out = tmp_path / "out"
    assert main(["data", "prepare", "ham10000", "--root", str(tmp_path), "--out", str(out),
                 "--size", "8"]) == 0  # fmt: skip
    rows = read_prepared_manifest(out)
    assert Counter(row["label"] for row in rows) == {dx: 20 for dx in CLASSES}
    for row in rows:
        assert row["patient_id"] == lesion_of[Path(row["path"]).stem]
    assert {row["split"] for row in rows} == {"train", "val", "test"}
    assert not groups_in_two_splits([r["patient_id"] for r in rows], [r["split"] for r in rows])
    printed = capsys.readouterr().out
    assert "vasc" in printed and "1 metadata rows have no image file" in printed


def test_missing_metadata_is_named(tmp_path, capsys):
    assert main(["data", "prepare", "ham10000", "--root", str(tmp_path), "--out",
                 str(tmp_path / "o")]) == 2  # fmt: skip
    assert "HAM10000_metadata.csv" in capsys.readouterr().err
