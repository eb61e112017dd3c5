"""`gaunet data prepare` keeps identical images in one split where it makes the split, and
reports the ones an official split separates (gaunet/data/recipes/identical.py)."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gaunet.cli import main
from gaunet.data.recipes.common import read_prepared_manifest

BUSI_CLASSES = ("benign", "malignant", "normal")


def make_busi_with_copies(root: Path, copies: int) -> list[set[str]]:
    """24 distinct images per class in BUSI's layout (each its own group), then `copies`
    extra files that repeat an image of the same class, and one malignant copy of a benign
    image; the sets of identical output files, as `gaunet data prepare busi` names them."""
    rng = np.random.default_rng(0)
    for name in BUSI_CLASSES:
        (root / name).mkdir(parents=True)
        for i in range(1, 25):
            pixels = rng.integers(0, 255, (20, 24), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name} ({i}).png")
    sets = []
    for k in range(copies):
        name = BUSI_CLASSES[k % 3]
        shutil.copy(root / name / f"{name} ({k + 1}).png", root / name / f"{name} ({100 + k}).png")
        sets.append({f"images/{name}/{name}_{k + 1}.png", f"images/{name}/{name}_{100 + k}.png"})
    shutil.copy(root / "benign" / "benign (24).png", root / "malignant" / "malignant (99).png")
    sets.append({"images/benign/benign_24.png", "images/malignant/malignant_99.png"})
    return sets


def split_of(out: Path) -> dict[str, str]:
    return {row["path"]: row["split"] for row in read_prepared_manifest(out)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_assigned_split_keeps_every_copy_in_one_split(tmp_path, capsys, seed):
    sets = make_busi_with_copies(tmp_path / "busi", copies=9)
    out = tmp_path / "out"
    assert main(["data", "prepare", "busi", "--root", str(tmp_path / "busi"), "--out", str(out),
                 "--size", "16", "--channels", "1", "--seed", str(seed)]) == 0  # fmt: skip
    split = split_of(out)
    assert all(len({split[file] for file in files}) == 1 for files in sets)
    assert set(split.values()) == {"train", "val", "test"}
    record = json.loads((out / "prepare.json").read_text())["identical_images"]
    assert (record["sets"], record["images"], record["across_splits"]) == (10, 20, [])
    assert record["conflicting_classes"] == [
        ["images/benign/benign_24.png", "images/malignant/malignant_99.png"]
    ]
    printed = capsys.readouterr().out
    assert "copies: 10 sets of identical images (20 images)" in printed
    assert "1 set holds one image under two classes" in printed


def make_chest_with_copies(root: Path) -> None:
    """Kermany's layout: 20 pneumonia patients and 20 normal ones in train (two images each),
    four of each in test; in train, the first image of patients 1-8 repeated as an image of
    patient 21-28, and one train image repeated in test under another patient."""
    rng = np.random.default_rng(1)
    for split, patients in (("train", range(1, 21)), ("test", range(50, 54))):
        for name, stem in (
            ("PNEUMONIA", "person{p}_bacteria_{n}"),
            ("NORMAL", "IM-0{p:03d}-000{n}"),
        ):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for p in patients:
                for n in (1, 2):
                    pixels = rng.integers(0, 255, (20, 16), dtype=np.uint8)
                    Image.fromarray(pixels).save(
                        root / split / name / f"{stem.format(p=p, n=n)}.png"
                    )
    folder = root / "train" / "PNEUMONIA"
    for p in range(1, 9):
        shutil.copy(folder / f"person{p}_bacteria_1.png", folder / f"person{p + 20}_bacteria_1.png")
    shutil.copy(
        folder / "person9_bacteria_1.png", root / "test" / "PNEUMONIA" / "person60_bacteria_1.png"
    )


def prepare_chest(root: Path, out: Path, *more: str) -> int:
    return main(["data", "prepare", "chest-xray-pediatric", "--root", str(root), "--out", str(out),
                 "--size", "16", "--channels", "1", *more])  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_official_split_is_kept_and_what_it_separates_is_named(tmp_path, capsys, seed):
    make_chest_with_copies(tmp_path / "chest")
    out = tmp_path / "out"
    assert prepare_chest(tmp_path / "chest", out, "--seed", str(seed)) == 0
    split = split_of(out)
    crossing = ["images/PNEUMONIA/train-person9_bacteria_1.png",
                "images/PNEUMONIA/test-person60_bacteria_1.png"]  # fmt: skip
    assert split[crossing[0]] != "test" == split[crossing[1]]  # the official test is kept
    for p in range(1, 9):  # val is carved from train with each copy on one side
        pair = [f"images/PNEUMONIA/train-person{p}_bacteria_1.png",
                f"images/PNEUMONIA/train-person{p + 20}_bacteria_1.png"]  # fmt: skip
        assert split[pair[0]] == split[pair[1]] != "test"
    assert "val" in split.values()
    record = json.loads((out / "prepare.json").read_text())["identical_images"]
    assert (record["sets"], record["across_splits"]) == (9, [crossing])
    in_train = split[crossing[0]] == "train"  # else carved into val
    assert record["across_splits_with_train"] == int(in_train)
    printed = capsys.readouterr().out
    assert "1 set of identical images crosses the official split" in printed
    harm = "tested or validated on images it trained on" if in_train else "also test images"
    assert harm in printed
    assert "--resplit" in printed

    again = tmp_path / "resplit"
    assert prepare_chest(tmp_path / "chest", again, "--resplit", "--seed", str(seed)) == 0
    assert len({split_of(again)[file] for file in crossing}) == 1
    assert (
        json.loads((again / "prepare.json").read_text())["identical_images"]["across_splits"] == []
    )


def test_a_resumed_run_finds_the_copies_in_the_images_it_wrote_before(tmp_path):
    sets = make_busi_with_copies(tmp_path / "busi", copies=6)
    out = tmp_path / "out"
    command = ["data", "prepare", "busi", "--root", str(tmp_path / "busi"), "--out", str(out),
               "--size", "16"]  # fmt: skip
    assert main(command) == 0
    first = (out / "manifest.csv").read_text()
    meta = json.loads((out / "prepare.json").read_text())
    (out / "manifest.csv").unlink()  # as if stopped after the images, before the manifest
    (out / "prepare.json").write_text(json.dumps({**meta, "status": "incomplete"}))
    written = {path: path.stat().st_mtime_ns for path in (out / "images").rglob("*.png")}
    assert main(command) == 0
    assert {path: path.stat().st_mtime_ns for path in written} == written  # read, not rewritten
    assert (out / "manifest.csv").read_text() == first
    again = json.loads((out / "prepare.json").read_text())["identical_images"]
    assert again == meta["identical_images"] and again["sets"] == len(sets)


def test_images_of_one_value_are_not_copies(tmp_path):
    root = tmp_path / "busi"
    make_busi_with_copies(root, copies=0)
    for name in BUSI_CLASSES:  # a blank frame in each class: never joined
        Image.fromarray(np.zeros((20, 24), np.uint8)).save(root / name / f"{name} (50).png")
    out = tmp_path / "out"
    assert main(["data", "prepare", "busi", "--root", str(root), "--out", str(out),
                 "--size", "16"]) == 0  # fmt: skip
    record = json.loads((out / "prepare.json").read_text())["identical_images"]
    assert record["sets"] == 1  # only the benign/malignant pair
    by_class = defaultdict(list)
    for row in read_prepared_manifest(out):
        by_class[row["label"]].append(row["path"])
    assert all(f"images/{name}/{name}_50.png" in by_class[name] for name in BUSI_CLASSES)


def test_a_set_across_val_and_test_only_is_not_called_training_data(capsys):
    from gaunet.data.recipes.identical import print_copies

    record = {"sets": 2, "images": 4, "across_splits": [["v.png", "t.png"]],
              "across_splits_with_train": 0, "conflicting_classes": []}  # fmt: skip
    print_copies(record)
    printed = capsys.readouterr().out
    assert "chosen on validation images that are also test images" in printed
    assert "trained on" not in printed and "copies: 2 sets of identical images (4" in printed
