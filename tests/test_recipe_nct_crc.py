"""`gaunet data prepare nct-crc-he-100k`: Kather 2019 class folders of .tif patches."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gaunet.cli import main
from gaunet.data.recipes.common import groups_in_two_splits, read_prepared_manifest
from gaunet.data.recipes.nct_crc import CLASSES


def make_patches(folder: Path, per_class: int, prefix: str = "") -> None:
    rng = np.random.default_rng(len(prefix))
    for name in CLASSES:
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{name}-{prefix}{i:04d}ABCD.tif")


@pytest.mark.parametrize("external", [True, False])
def test_labels_and_split(tmp_path, capsys, external):
    make_patches(tmp_path / "NCT-CRC-HE-100K", per_class=10)
    make_patches(tmp_path / "CRC-VAL-HE-7K", per_class=3, prefix="TCGA-")
    out = tmp_path / "out"
    args = ["data", "prepare", "nct-crc-he-100k", "--root", str(tmp_path), "--out", str(out),
            "--size", "16"]  # fmt: skip
    assert main(args + ([] if external else ["--ignore-external-test"])) == 0
    rows = read_prepared_manifest(out)
    labels = Counter(row["label"] for row in rows)
    assert labels == {name: 13 if external else 10 for name in CLASSES}
    tests = [row for row in rows if row["split"] == "test"]
    from_7k = ["TCGA" in row["path"] for row in tests]
    assert all(from_7k) if external else not any(from_7k)
    assert {row["split"] for row in rows} == {"train", "val", "test"}
    assert not groups_in_two_splits([r["patient_id"] for r in rows], [r["split"] for r in rows])
    assert "TUM" in capsys.readouterr().out


def test_missing_class_is_named(tmp_path, capsys):
    make_patches(tmp_path / "NCT-CRC-HE-100K", per_class=1)
    for path in (tmp_path / "NCT-CRC-HE-100K" / "MUC").iterdir():
        path.unlink()
    (tmp_path / "NCT-CRC-HE-100K" / "MUC").rmdir()
    assert main(["data", "prepare", "nct-crc-he-100k", "--root", str(tmp_path), "--out",
                 str(tmp_path / "o")]) == 2  # fmt: skip
    assert "MUC" in capsys.readouterr().err
