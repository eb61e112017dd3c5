"""`gaunet data prepare chest-xray-pediatric`: Kermany train|test|val/{NORMAL,PNEUMONIA}."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gaunet.cli import main
from gaunet.data.recipes.chest_xray_pediatric import patient_of
from gaunet.data.recipes.common import groups_in_two_splits, read_prepared_manifest

NAMES = {
    "train": {
        "NORMAL": [f"IM-01{p}-000{n}.jpeg" for p in range(10, 16) for n in (1, 2)]
        + ["NORMAL2-IM-0427-0001.jpeg"],
        "PNEUMONIA": [f"person{p}_bacteria_{n}.jpeg" for p in range(1, 7) for n in (1, 2)]
        + [f"person{p}_virus_{n}.jpeg" for p in range(7, 12) for n in (3, 4)],
    },
    "val": {
        "NORMAL": ["NORMAL2-IM-1427-0001.jpeg"],
        "PNEUMONIA": ["person1946_bacteria_4874.jpeg"],
    },
    "test": {
        "NORMAL": ["IM-0001-0001.jpeg", "IM-0003-0001.jpeg"],
        "PNEUMONIA": ["person100_bacteria_475.jpeg", "person101_virus_187.jpeg"],
    },
}


def make_chest(root: Path) -> None:
    rng = np.random.default_rng(0)
    for split, classes in NAMES.items():
        for name, files in classes.items():
            (root / split / name).mkdir(parents=True)
            for file in files:
                pixels = rng.integers(0, 255, (20, 16), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / file)


@pytest.mark.parametrize(
    ("name", "patient"),
    [
        ("person1_bacteria_1.jpeg", "person1"),
        ("person1946_virus_4874.jpeg", "person1946"),
        ("IM-0115-0001.jpeg", "IM-0115"),
        ("NORMAL2-IM-0427-0001.jpeg", "NORMAL2-IM-0427"),
        ("strange.jpeg", "file:strange"),
    ],
)
def test_patient_from_name(name, patient):
    assert patient_of(Path(name)) == patient


@pytest.mark.parametrize("subtypes", [False, True])
def test_labels_groups_split(tmp_path, capsys, subtypes):
    make_chest(tmp_path / "chest_xray")
    out = tmp_path / "out"
    args = ["data", "prepare", "chest-xray-pediatric", "--root", str(tmp_path), "--out", str(out),
            "--size", "8"] + (["--subtypes"] if subtypes else [])  # fmt: skip
    assert main(args) == 0
    rows = read_prepared_manifest(out)
    expected = {"NORMAL": 16, "BACTERIA": 14, "VIRUS": 11} if subtypes else {
        "NORMAL": 16, "PNEUMONIA": 25}  # fmt: skip
    assert Counter(row["label"] for row in rows) == expected
    split_of = {Path(row["path"]).name: row["split"] for row in rows}
    assert split_of["test-person100_bacteria_475.png"] == "test"
    assert split_of["val-person1946_bacteria_4874.png"] in ("train", "val")  # folded into train
    assert {row["split"] for row in rows} == {"train", "val", "test"}
    assert not groups_in_two_splits([r["patient_id"] for r in rows], [r["split"] for r in rows])
    assert "PNEUMONIA" in capsys.readouterr().out or subtypes
