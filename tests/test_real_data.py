"""The real datasets in ../shared/data load with exactly the counts of its README."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from data_helpers import clear_ids

from gaunet.cli import main
from gaunet.data import load_source

DATA = Path(__file__).parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def _need(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"real data {path} is absent (only the repository is here)")
    return path


@pytest.mark.parametrize(
    ("name", "classes", "train", "val", "test"),
    [
        ("breastmnist.npz", ["malignant", "normal+benign"], [147, 399], 78, 156),
        ("pneumoniamnist.npz", ["normal", "pneumonia"], [1214, 3494], 524, 624),
    ],
)
def test_medmnist_official_splits(name, classes, train, val, test):
    data = load_source(_need(name), size=28, channels=1)
    assert data.class_names == classes
    train_labels = data.labels[data.split == "train"]
    assert list(np.bincount(train_labels)) == train
    assert (data.split == "val").sum() == val and (data.split == "test").sum() == test


def test_busi_folders_with_spaces_in_names():
    data = load_source(_need("busi"), size=32)
    assert data.class_counts() == {"benign": 437, "malignant": 210, "normal": 133}
    assert "benign/benign (1).png" in clear_ids(_need("busi"), data)
    assert data.problems == [] and data.info["modes"] == {"RGB": 780}


def test_messy_brain_mri_modes():
    data = load_source(_need("brain_tumor_mri"), size=32)
    assert data.class_counts() == {"no": 98, "yes": 155}
    assert set(data.info["modes"]) == {"RGB", "L", "RGBA", "P"}
    assert data.problems == [] and data.images.shape == (253, 3, 32, 32)


def test_inspect_json_on_busi(capsys):
    assert main(["data", "inspect", str(_need("busi")), "--json", "--size", "32"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"]["total"] == {"benign": 437, "malignant": 210, "normal": 133}
    for cls, total in summary["counts"]["total"].items():
        test_share = summary["counts"]["test"][cls] / total
        assert test_share == pytest.approx(0.2, abs=0.02)


def test_identical_images_in_the_real_sets_are_found_and_kept_together(capsys):
    from gaunet.data import assign_split
    from gaunet.data.duplicates import duplicate_sets

    brain = assign_split(load_source(_need("brain_tumor_mri"), size=32))
    sets = duplicate_sets(brain.images)
    assert len(sets) >= 20  # 22 sets of byte-identical or re-saved files (47 images)
    assert all(len(set(brain.split[rows])) == 1 for rows in sets)
    assert main(["data", "inspect", str(_need("busi")), "--json", "--size", "32"]) == 0
    conflicting = json.loads(capsys.readouterr().out)["duplicates"]["conflicting_classes"]
    assert [[(r["file"], r["class"]) for r in rows] for rows in conflicting] == [
        [("benign/benign (433).png", "benign"), ("malignant/malignant (145).png", "malignant")]
    ]
    breast = ["data", "inspect", str(_need("breastmnist.npz")), "--json", "--size", "28"]
    assert main([*breast, "--channels", "1"]) == 0
    across = json.loads(capsys.readouterr().out)["duplicates"]["across_splits"]
    assert [[r["file"] for r in rows] for rows in across] == [["train/000115", "test/000076"]]
