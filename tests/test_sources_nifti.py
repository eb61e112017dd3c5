"""NIfTI volumes via a manifest: axial slices, slice column, blank slices, NaN, groups."""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import clear_ids, make_nifti, partition, write_csv

from gaunet.data import load_source


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def _volume(depth=5, blank=(0,), seed=0):
    rng = np.random.default_rng(seed)
    volume = rng.uniform(100, 1000, (12, 10, depth)).astype(np.float32)
    for z in blank:
        volume[:, :, z] = 0.0
    return volume


def _manifest(tmp_path, rows, header=("path", "label")):
    return write_csv(tmp_path / "m.csv", list(header), rows)


def test_volumes_become_axial_slices_grouped_by_volume(tmp_path):
    make_nifti(tmp_path / "v1.nii.gz", _volume(5))
    make_nifti(tmp_path / "v2.nii", _volume(3, seed=1))
    data = load_source(_manifest(tmp_path, [["v1.nii.gz", "a"], ["v2.nii", "b"]]), 16)
    assert len(data) == 8 and data.info["kind"] == "nifti"
    csv = tmp_path / "m.csv"
    assert clear_ids(csv, data)[:2] == ["v1.nii.gz#0", "v1.nii.gz#1"]
    assert partition(data.groups) == partition(["v1.nii.gz"] * 5 + ["v2.nii"] * 3)
    assert data.class_counts() == {"a": 5, "b": 3}


def test_skip_blank_slices(tmp_path):
    make_nifti(tmp_path / "v.nii.gz", _volume(6, blank=(0, 5)))
    make_nifti(tmp_path / "w.nii.gz", _volume(4, blank=()))
    csv = _manifest(tmp_path, [["v.nii.gz", "a"], ["w.nii.gz", "a"]])
    assert len(load_source(csv, 16)) == 10
    kept = load_source(csv, 16, skip_blank=True)
    assert len(kept) == 8 and "v.nii.gz#0" not in clear_ids(csv, kept)


def test_slice_column_labels_single_slices(tmp_path):
    make_nifti(tmp_path / "v.nii.gz", _volume(5))
    csv = _manifest(
        tmp_path,
        [["v.nii.gz", "tumour", 2], ["v.nii.gz", "normal", 4], ["v.nii.gz", "normal", 9]],
        header=("path", "label", "slice"),
    )
    data = load_source(csv, 16)
    assert clear_ids(csv, data) == ["v.nii.gz#2", "v.nii.gz#4"]
    assert data.class_names == ["normal", "tumour"] and list(data.labels) == [1, 0]
    assert "outside the volume" in data.problems[0].reason


def test_nan_voxels_do_not_break_scaling(tmp_path):
    volume = _volume(3, blank=())
    volume[2:5, 2:5, :] = np.nan
    make_nifti(tmp_path / "v.nii.gz", volume)
    make_nifti(tmp_path / "nan.nii.gz", np.full((8, 8, 2), np.nan))
    data = load_source(_manifest(tmp_path, [["v.nii.gz", "a"], ["nan.nii.gz", "a"]]), 16)
    assert len(data) == 3 and data.images.max() > 0
    assert "no finite voxel" in data.problems[0].reason


def test_window_applies_to_volumes(tmp_path):
    volume = np.repeat(np.asarray([300.0, 540.0, 560.0, 900.0]), 4)[:, None, None]
    make_nifti(tmp_path / "v.nii.gz", np.broadcast_to(volume, (16, 16, 2)))
    csv = _manifest(tmp_path, [["v.nii.gz", "a"]])
    assert len(np.unique(load_source(csv, 16).images)) == 4  # percentile range: 4 levels
    narrow = load_source(csv, 16, window=(550.0, 10.0))  # 545..555: two levels each side
    assert set(np.unique(narrow.images)) == {0, 255}
    assert (narrow.images == 0).mean() == 0.5


def test_a_slice_listed_twice_or_inside_a_whole_volume_row_is_used_once(tmp_path):
    """`3` and `03` are one slice, and a whole-volume row already lists every slice: the
    later rows are problems, so no slice is read twice (with two labels or in two splits)."""
    make_nifti(tmp_path / "v.nii.gz", _volume(5, blank=()))
    make_nifti(tmp_path / "w.nii.gz", _volume(4, blank=(), seed=1))
    rows = [["v.nii.gz", "a", ""], ["v.nii.gz", "b", "3"], ["w.nii.gz", "a", "1"],
            ["w.nii.gz", "b", "01"], ["w.nii.gz", "a", ""]]  # fmt: skip
    data = load_source(_manifest(tmp_path, rows, ("path", "label", "slice")), 16)
    ids = clear_ids(tmp_path / "m.csv", data)
    assert len(ids) == len(set(ids)) == 6  # v's 5 slices and w's slice 1
    reasons = [p.reason.split(";")[0] for p in data.problems]
    assert reasons == ["listed whole and by slice", "listed twice", "listed whole and by slice"]


def test_slices_are_numbered_from_the_feet_and_a_file_stored_otherwise_says_so(tmp_path):
    """The `slice` column and `#z` count RAS slices (foot to head); a volume stored head to
    foot gets a note, since a viewer's slice k of the file is slice depth-1-k here."""
    import nibabel as nib

    from gaunet.data.readers.medical import NIFTI_ORDER_NOTE

    volume = _volume(4, blank=())
    volume[:, :, 0] = 50.0  # the file's first slice: a flat, dark one
    flipped = np.diag([1.0, 1.0, -1.0, 1.0])
    nib.save(nib.Nifti1Image(volume, flipped), str(tmp_path / "down.nii.gz"))
    make_nifti(tmp_path / "up.nii.gz", volume)
    rows = [["down.nii.gz", "a", "3"], ["up.nii.gz", "b", "0"]]
    data = load_source(_manifest(tmp_path, rows, ("path", "label", "slice")), 16)
    assert data.info["notes"] == {NIFTI_ORDER_NOTE: 1}
    assert np.array_equal(data.images[0], data.images[1])  # both are the file's first slice


@pytest.mark.parametrize(
    "extra, note",
    [((3,), "only the first of its 3 volumes is read"),  # fMRI / DWI: said now
     ((1, 1), None)],  # (x, y, z, 1, 1): one volume, was "no 2D axial slices"
)  # fmt: skip
def test_a_volume_with_more_axes_keeps_its_first_volume(tmp_path, extra, note):
    volume = _volume(4, blank=())
    stacked = np.stack([volume * (k + 1) for k in range(int(np.prod(extra)))], axis=-1)
    make_nifti(tmp_path / "v.nii.gz", stacked.reshape(volume.shape + extra))
    make_nifti(tmp_path / "w.nii.gz", volume)
    data = load_source(_manifest(tmp_path, [["v.nii.gz", "a"], ["w.nii.gz", "a"]]), 16)
    assert len(data) == 8 and not data.problems
    notes = data.info.get("notes", {})
    if note:
        assert any(note in text and count == 4 for text, count in notes.items()), notes
    else:
        assert not any("volumes is read" in text for text in notes), notes
