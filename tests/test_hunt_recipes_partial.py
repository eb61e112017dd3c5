"""`gaunet data prepare` on partial downloads: nothing dropped without a word, and an official
split whose test part is missing is refused instead of prepared without a test split."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from gaunet.data.recipes import RECIPE_DEFAULTS, prepare_dataset
from gaunet.data.recipes.common import read_prepared_manifest
from gaunet.errors import GaunetError


def _images(folder: Path, names: list[str], suffix: str = ".png") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(list(folder.iterdir())) + len(str(folder)))
    for name in names:
        pixels = rng.integers(0, 255, (12, 12), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{name}{suffix}")


def _options(**changes) -> SimpleNamespace:
    return SimpleNamespace(**{**RECIPE_DEFAULTS, "seed": 0, **changes})


def test_nct_crc_with_an_empty_external_test_folder_is_refused(tmp_path):
    from gaunet.data.recipes.nct_crc import CLASSES

    for name in CLASSES:
        _images(tmp_path / "NCT-CRC-HE-100K" / name, [f"{name}-{i}" for i in range(8)], ".tif")
    (tmp_path / "CRC-VAL-HE-7K").mkdir()  # its archive not unpacked yet
    with pytest.raises(GaunetError, match="--ignore-external-test"):
        prepare_dataset("nct-crc-he-100k", tmp_path, tmp_path / "out", size=8)
    for name in CLASSES[:-1]:  # unpacked part way: TUM/ still missing
        _images(tmp_path / "CRC-VAL-HE-7K" / name, [f"{name}-TCGA-{i}" for i in range(2)], ".tif")
    with pytest.raises(GaunetError, match=r"CRC-VAL-HE-7K class folder 'TUM/'"):
        prepare_dataset("nct-crc-he-100k", tmp_path, tmp_path / "out", size=8)
    out = prepare_dataset(
        "nct-crc-he-100k", tmp_path, tmp_path / "out", size=8, ignore_external_test=True
    )
    assert "test" in {row["split"] for row in read_prepared_manifest(out)}


def test_oct2017_without_test_images_is_refused_not_prepared_without_test(tmp_path):
    from gaunet.data.recipes.oct2017 import CLASSES

    for name in CLASSES:
        _images(tmp_path / "train" / name, [f"{name}-{p}-1" for p in range(100, 110)], ".jpeg")
        (tmp_path / "test" / name).mkdir(parents=True)  # test images not downloaded yet
    with pytest.raises(GaunetError, match="no test image"):
        prepare_dataset("oct2017", tmp_path, tmp_path / "out", size=8)
    out = prepare_dataset("oct2017", tmp_path, tmp_path / "resplit", size=8, resplit=True)
    assert {row["split"] for row in read_prepared_manifest(out)} == {"train", "val", "test"}


def test_a_class_with_no_file_found_is_noted(tmp_path, capsys):
    from gaunet.data.recipes.busi import CLASSES

    for name in CLASSES[:-1]:
        _images(tmp_path / name, [f"{name} ({i})" for i in range(1, 11)])
    (tmp_path / CLASSES[-1]).mkdir()  # normal/ still empty
    out = prepare_dataset("busi", tmp_path, tmp_path / "out", size=8)
    notes = json.loads((out / "prepare.json").read_text())["notes"]
    assert any("class normal" in note for note in notes)
    assert "no image of class normal was found" in capsys.readouterr().out


def test_oct2017_val_folder_is_not_dropped_silently(tmp_path):
    from gaunet.data.recipes.oct2017 import CLASSES, collect

    for split in ("train", "test", "val"):
        for name in CLASSES:
            _images(tmp_path / split / name, [f"{name}-{split}{p}-1" for p in (1, 2)], ".jpeg")
    collected = collect(tmp_path, _options())
    assert any("val/ (8 images)" in note for note in collected.notes)


def test_chestxray8_counts_the_images_outside_its_classes(tmp_path):
    from gaunet.data.recipes.chestxray8 import collect

    labels = ["Effusion", "No Finding", "No Finding", "Effusion|Mass"]
    names = [f"0000000{i}_000" for i in range(len(labels))]
    _images(tmp_path / "images", names)
    with open(tmp_path / "Data_Entry_2017.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Image Index", "Finding Labels", "Patient ID"])
        writer.writerows([f"{n}.png", lab, i] for i, (n, lab) in enumerate(zip(names, labels)))
    collected = collect(tmp_path, _options())
    assert len(collected.items) == 1
    assert any("2 images outside the classes: 2 'No Finding'" in n for n in collected.notes)


def test_luna16_counts_nodules_of_cts_not_downloaded(tmp_path):
    from gaunet.data.recipes.luna16 import collect

    (tmp_path / "subset0").mkdir()
    (tmp_path / "subset0" / "1.2.3.mhd").write_text("")  # collect reads headers lazily
    header = ["seriesuid", "coordX", "coordY", "coordZ"]
    with open(tmp_path / "annotations.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([[*header, "diameter_mm"], ["1.2.3", 0, 0, 0, 5],
                                      ["9.9.9", 0, 0, 0, 6], ["9.9.8", 1, 1, 1, 4]])  # fmt: skip
    with open(tmp_path / "candidates.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([[*header, "class"], ["1.2.3", 1, 1, 1, 0]])
    collected = collect(tmp_path, _options())
    assert [item.label for item in collected.items] == ["non_nodule", "nodule_3mm_or_more"]
    assert any("2 nodule rows name a CT not under" in note for note in collected.notes)
