"""`gaunet data prepare lits`: volume-N.nii + segmentation-N.nii -> labelled axial slices."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import nibabel
import numpy as np
import pytest
from PIL import Image

from gaunet.cli import main
from gaunet.data.recipes.common import groups_in_two_splits, read_prepared_manifest

AFFINES = [np.diag([-0.8, -0.8, 2.0, 1.0]), np.diag([0.8, 0.8, -2.0, 1.0])]  # LiTS has both


def make_lits(root: Path, volumes: int = 10, suffix: str = ".nii") -> None:
    """7 slices each (stored order, not symmetric so a flip would show): 1, 3 liver, 2 tumour."""
    for n in range(volumes):
        folder = root / f"Training Batch {1 + n % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        mask = np.zeros((12, 12, 7), dtype=np.uint8)
        mask[3:9, 3:9, 1:4] = 1
        mask[5:7, 5:7, 2] = 2
        volume = np.where(mask > 0, 60, -1000).astype(np.int16)
        affine = AFFINES[n % 2]
        nibabel.save(nibabel.Nifti1Image(volume, affine), folder / f"volume-{n}{suffix}")
        nibabel.save(nibabel.Nifti1Image(mask, affine), folder / f"segmentation-{n}{suffix}")


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_slice_labels_groups_split(tmp_path, capsys, suffix):
    make_lits(tmp_path, suffix=suffix)
    out = tmp_path / "out"
    assert main(["data", "prepare", "lits", "--root", str(tmp_path), "--out", str(out),
                 "--size", "12", "--channels", "1"]) == 0  # fmt: skip
    rows = read_prepared_manifest(out)
    assert Counter(row["label"] for row in rows) == {
        "no_liver": 40,
        "liver": 20,
        "liver_tumour": 10,
    }
    assert len({row["patient_id"] for row in rows}) == 10
    assert not groups_in_two_splits([r["patient_id"] for r in rows], [r["split"] for r in rows])
    for row in rows:  # the slice written is the one the mask labelled, whatever the affine
        tissue = (np.asarray(Image.open(out / row["path"])) > 100).any()
        assert tissue == (row["label"] != "no_liver")
    assert "liver_tumour" in capsys.readouterr().out


def test_slice_step_and_missing_segmentation(tmp_path, capsys):
    make_lits(tmp_path, volumes=2)
    out = tmp_path / "out"
    assert main(["data", "prepare", "lits", "--root", str(tmp_path), "--out", str(out),
                 "--size", "8", "--slice-step", "3"]) == 0  # fmt: skip
    assert len(read_prepared_manifest(out)) == 2 * 3
    next(tmp_path.rglob("segmentation-1.nii")).unlink()
    assert main(["data", "prepare", "lits", "--root", str(tmp_path), "--out",
                 str(tmp_path / "o")]) == 2  # fmt: skip
    assert "segmentation-1.nii" in capsys.readouterr().err


def test_organ_boxes_give_organ_classes_cropped_in_the_same_orientation(tmp_path):
    from gaunet.data.recipes.lits import axial_slice

    rng = np.random.default_rng(1)
    boxes = tmp_path / "annotations_of_training_set"
    boxes.mkdir()
    for n in range(10):
        volume = rng.integers(-200, 300, (12, 12, 7)).astype(np.int16)  # asymmetric content
        nibabel.save(nibabel.Nifti1Image(volume, AFFINES[n % 2]), tmp_path / f"volume-{n}.nii")
        lines = ["liver 4 2 8 3 9 1 4", "lung-l 2 6 12 0 6 4 6"] if n != 9 else []
        (boxes / f"segmentation-{n}.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert main(["data", "prepare", "lits", "--root", str(tmp_path), "--out", str(out),
                 "--size", "6", "--channels", "1", "--organ-boxes", str(boxes)]) == 0  # fmt: skip
    rows = read_prepared_manifest(out)
    assert Counter(row["label"] for row in rows) == {"liver": 27, "left_lung": 18}
    for row in rows:  # each crop is a window of the full radiological slice, either affine
        n, z = int(row["patient_id"].split("-")[1]), int(row["path"][-8:-4])
        z_ras = z if AFFINES[n % 2][2, 2] > 0 else 6 - z
        full = axial_slice(tmp_path / f"volume-{n}.nii", z_ras)
        crop = np.asarray(Image.open(out / row["path"]))
        windows = np.lib.stride_tricks.sliding_window_view(full, crop.shape)
        assert (windows == crop).all(axis=(2, 3)).any()
