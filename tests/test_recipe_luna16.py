"""`gaunet data prepare luna16`: subset*/UID.mhd+.raw, annotations/candidates CSVs; the reader."""

from __future__ import annotations

import csv
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gaunet.cli import main
from gaunet.data.recipes.common import groups_in_two_splits, read_prepared_manifest
from gaunet.data.recipes.luna16 import LARGE, NON_NODULE, SMALL
from gaunet.data.recipes.metaimage import read_metaimage

SPACING = (0.7, 0.8, 2.5)
OFFSET = (-100.0, -120.0, -300.0)


def write_mhd(path: Path, array_zyx: np.ndarray, matrix="1 0 0 0 1 0 0 0 1", msb=False,
              compress=False, local=False) -> None:  # fmt: skip
    """MetaImage as LUNA16 ships it (MET_SHORT, little-endian), plus the variants we read."""
    data = array_zyx.astype(">i2" if msb else "<i2").tobytes()
    data = zlib.compress(data) if compress else data
    header = [
        "ObjectType = Image",
        "NDims = 3",
        f"BinaryDataByteOrderMSB = {msb}",
        f"CompressedData = {compress}",
        f"TransformMatrix = {matrix}",
        "Offset = " + " ".join(map(str, OFFSET)),
        "ElementSpacing = " + " ".join(map(str, SPACING)),
        "DimSize = " + " ".join(map(str, array_zyx.shape[::-1])),
        "ElementType = MET_SHORT",
        f"ElementDataFile = {'LOCAL' if local else path.with_suffix('.raw').name}",
    ]
    text = ("\n".join(header) + "\n").encode()
    if local:
        path.write_bytes(text + data)
    else:
        path.write_bytes(text)
        path.with_suffix(".raw").write_bytes(data)


@pytest.mark.parametrize("variant", [{}, {"msb": True}, {"compress": True}, {"local": True}])
def test_reader_variants(tmp_path, variant):
    array = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 1000
    write_mhd(tmp_path / "v.mhd", array, **variant)
    image = read_metaimage(tmp_path / "v.mhd")
    np.testing.assert_array_equal(image.array, array)
    voxel = np.array([2.0, 3.0, 1.0])  # (x, y, z)
    world = np.asarray(OFFSET) + voxel * np.asarray(SPACING)
    np.testing.assert_allclose(image.world_to_voxel(world), voxel)


def test_reader_direction(tmp_path):
    write_mhd(tmp_path / "v.mhd", np.zeros((4, 5, 6), np.int16), matrix="-1 0 0 0 -1 0 0 0 1")
    image = read_metaimage(tmp_path / "v.mhd")
    world = np.asarray(OFFSET) + np.array([-2.0 * SPACING[0], -3.0 * SPACING[1], SPACING[2]])
    np.testing.assert_allclose(image.world_to_voxel(world), [2.0, 3.0, 1.0])


def world_of(voxel_xyz) -> list[float]:
    return [round(o + v * s, 3) for o, v, s in zip(OFFSET, voxel_xyz, SPACING, strict=True)]


def make_luna(root: Path, series: int = 10) -> None:
    """Each CT: air, a bright nodule at voxel (12, 10, 3); small nodule / negatives elsewhere."""
    annotations, candidates, small = [], [], []
    for s in range(series):
        uid = f"1.3.6.1.4.1.14519.5.2.1.6279.6001.{100 + s}"
        volume = np.full((6, 24, 24), -1000, dtype=np.int16)
        volume[3, 8:13, 10:15] = 100
        folder = root / f"subset{s % 2}"
        folder.mkdir(exist_ok=True)
        write_mhd(folder / f"{uid}.mhd", volume)
        annotations.append([uid, *world_of((12, 10, 3)), 6.5])
        candidates += [[uid, *world_of((12, 10, 3)), 1]]
        candidates += [[uid, *world_of((x, 4, 1)), 0] for x in (2, 6, 18)]
        small.append([uid, *world_of((20, 20, 4))])
    annotations.append(["1.2.not.downloaded", 0, 0, 0, 5.0])
    for name, header, rows in (
        ("annotations.csv", ["diameter_mm"], annotations),
        ("candidates.csv", ["class"], candidates),
        ("small.csv", [], small),
    ):
        with open(root / name, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["seriesuid", "coordX", "coordY", "coordZ", *header])
            writer.writerows(rows)


@pytest.mark.parametrize("with_small", [True, False])
def test_patches_labels_groups(tmp_path, capsys, with_small):
    make_luna(tmp_path)
    out = tmp_path / "out"
    args = ["data", "prepare", "luna16", "--root", str(tmp_path), "--out", str(out),
            "--size", "16", "--channels", "1", "--patch", "8"]  # fmt: skip
    assert (
        main(args + (["--small-nodules", str(tmp_path / "small.csv")] if with_small else [])) == 0
    )
    rows = read_prepared_manifest(out)
    expected = {NON_NODULE: 20, LARGE: 10} | ({SMALL: 10} if with_small else {})
    assert Counter(row["label"] for row in rows) == expected
    assert len({row["patient_id"] for row in rows}) == 10
    assert not groups_in_two_splits([r["patient_id"] for r in rows], [r["split"] for r in rows])
    for row in rows:
        patch = np.asarray(Image.open(out / row["path"]), dtype=np.float32)
        centre = patch[6:10, 6:10].mean()
        assert (centre > 200) == (row["label"] == LARGE)  # the nodule is at the patch centre
    printed = capsys.readouterr().out
    assert ("class is empty" in printed) != with_small


def test_missing_csv_is_named(tmp_path, capsys):
    make_luna(tmp_path, series=1)
    (tmp_path / "candidates.csv").unlink()
    assert main(["data", "prepare", "luna16", "--root", str(tmp_path), "--out",
                 str(tmp_path / "o")]) == 2  # fmt: skip
    assert "candidates.csv" in capsys.readouterr().err


def test_point_outside_the_volume_is_skipped_and_named(tmp_path, capsys):
    make_luna(tmp_path, series=2)
    with open(tmp_path / "annotations.csv", "a", newline="") as handle:
        uid = "1.3.6.1.4.1.14519.5.2.1.6279.6001.100"
        csv.writer(handle).writerow([uid, *world_of((12, 10, 40)), 4.0])
    out = tmp_path / "out"
    assert main(["data", "prepare", "luna16", "--root", str(tmp_path), "--out", str(out),
                 "--size", "8", "--negatives-per-series", "0"]) == 0  # fmt: skip
    assert Counter(row["label"] for row in read_prepared_manifest(out)) == {NON_NODULE: 6, LARGE: 2}
    assert "outside the volume" in capsys.readouterr().out
