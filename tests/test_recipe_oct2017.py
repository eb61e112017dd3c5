"""`gaunet data prepare oct2017`: Kermany train|test/CLASS/CLASS-PATIENT-N.jpeg."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from gaunet.cli import main
from gaunet.data.recipes.common import groups_in_two_splits, read_prepared_manifest
from gaunet.data.recipes.oct2017 import CLASSES, patient_of


def make_oct(root: Path, leak: bool) -> None:
    rng = np.random.default_rng(0)
    for split, patients in (("train", range(100, 112)), ("test", range(200, 203))):
        for name in CLASSES:
            (root / split / name).mkdir(parents=True)
            for patient in patients:
                for n in (1, 2):
                    pixels = rng.integers(0, 255, (12, 20), dtype=np.uint8)
                    path = root / split / name / f"{name}-{patient}-{n}.jpeg"
                    Image.fromarray(pixels).save(path)
    if leak:  # a train patient also in test
        Image.fromarray(pixels).save(root / "test" / "CNV" / "CNV-100-9.jpeg")


def test_patient_from_file_name():
    assert patient_of(Path("CNV-1016042-1.jpeg")) == "1016042"
    assert patient_of(Path("odd.jpeg")) == "file:odd"


def test_official_split_with_val_carved(tmp_path, capsys):
    make_oct(tmp_path / "OCT2017", leak=False)
    out = tmp_path / "out"
    assert main(["data", "prepare", "oct2017", "--root", str(tmp_path), "--out", str(out),
                 "--size", "8"]) == 0  # fmt: skip
    rows = read_prepared_manifest(out)
    assert Counter(row["label"] for row in rows) == {name: 30 for name in CLASSES}
    split_of = {row["patient_id"]: row["split"] for row in rows}
    assert {split_of[str(p)] for p in range(200, 203)} == {"test"}
    assert {split_of[str(p)] for p in range(100, 112)} == {"train", "val"}
    assert not groups_in_two_splits([r["patient_id"] for r in rows], [r["split"] for r in rows])
    assert "warning" not in capsys.readouterr().out


def test_leaking_official_split_is_reported_and_resplit_fixes_it(tmp_path, capsys):
    make_oct(tmp_path, leak=True)
    out = tmp_path / "out"
    assert main(["data", "prepare", "oct2017", "--root", str(tmp_path), "--out", str(out),
                 "--size", "8"]) == 0  # fmt: skip
    assert "1 groups are in more than one split (e.g. 100)" in capsys.readouterr().out
    assert main(["data", "prepare", "oct2017", "--root", str(tmp_path), "--out", str(out),
                 "--size", "8", "--resplit", "--overwrite"]) == 0  # fmt: skip
    rows = read_prepared_manifest(out)
    assert not groups_in_two_splits([r["patient_id"] for r in rows], [r["split"] for r in rows])
