"""A 4-D NIfTI (fMRI, DWI) gives its first volume without the whole series read into memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from gaunet.data.readers.items import ReadOptions
from gaunet.data.readers.medical import read_nifti


def _series(path, volumes: int, affine: np.ndarray, extra: tuple[int, ...] = ()) -> np.ndarray:
    import nibabel as nib

    rng = np.random.default_rng(0)
    first = rng.uniform(0, 100, (48, 40, 6)).astype(np.float32)
    series = np.stack([first + 1000 * k for k in range(volumes * int(np.prod(extra)))], axis=-1)
    nib.save(nib.Nifti1Image(series.reshape(first.shape + (volumes,) + extra), affine), str(path))
    return first


@pytest.mark.parametrize(
    "affine, extra",
    [(np.eye(4), ()),
     (np.diag([-1.0, 1.0, -1.0, 1.0]), ()),  # stored head to foot: reoriented as before
     (np.eye(4), (1,))],  # (x, y, z, t, 1)
)  # fmt: skip
def test_the_first_volume_matches_that_volume_saved_alone(tmp_path, affine, extra):
    import nibabel as nib

    first = _series(tmp_path / "series.nii", 5, affine, extra)
    nib.save(nib.Nifti1Image(first, affine), str(tmp_path / "first.nii"))
    options = ReadOptions(size=16, channels=1)
    from_series = read_nifti(tmp_path / "series.nii", options)
    alone = read_nifti(tmp_path / "first.nii", options)
    assert [f.suffix for f in from_series] == [f.suffix for f in alone]
    for a, b in zip(from_series, alone):
        assert np.array_equal(a.image, b.image)
    assert "only the first of its 5 volumes is read" in from_series[0].note


def test_only_the_first_volume_is_held_in_memory(tmp_path):
    """40 volumes of 46 KiB, gzipped (an uncompressed float file is memory-mapped either way):
    the read peaks near one volume, not near the 1.8 MiB series (3.8 MB before)."""
    _series(tmp_path / "series.nii.gz", 40, np.eye(4))
    tracemalloc.start()
    try:
        read_nifti(tmp_path / "series.nii.gz", ReadOptions(size=16, channels=1))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole = 48 * 40 * 6 * 4 * 40
    assert peak < whole / 4, f"peak {peak} bytes for a {whole}-byte series"


def test_more_than_one_extra_axis_is_still_refused(tmp_path):
    from gaunet.data.readers.items import SkipFile

    _series(tmp_path / "five.nii", 2, np.eye(4), (3,))
    with pytest.raises(SkipFile, match="no 2D axial slices"):
        read_nifti(tmp_path / "five.nii", ReadOptions(size=16, channels=1))
