"""Enhanced multi-frame DICOM: rescale and window come from the functional groups."""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import make_dicom

from gaunet.data.readers.items import ReadOptions, SkipFile
from gaunet.data.readers.medical import read_dicom

# stored 0..1000 along x, the same in every frame
STORED = np.tile(np.linspace(0, 1000, 16).astype(np.uint16), (3, 16, 1))


def _item(**values):
    from pydicom.dataset import Dataset

    item = Dataset()
    for name, value in values.items():
        setattr(item, name, value)
    return item


def _enhanced(path, per_frame=None, shared=None):
    """A multi-frame file whose rescale/window live only in functional groups: `per_frame` a
    list of {sequence name: item}, `shared` one such dict."""
    import pydicom
    from pydicom.sequence import Sequence

    make_dicom(path, STORED)
    dataset = pydicom.dcmread(path)
    del dataset.RescaleSlope, dataset.RescaleIntercept
    if shared is not None:
        group = _item()
        for name, item in shared.items():
            setattr(group, name, Sequence([item]))
        dataset.SharedFunctionalGroupsSequence = Sequence([group])
    if per_frame is not None:
        groups = []
        for frame in per_frame:
            group = _item()
            for name, item in frame.items():
                setattr(group, name, Sequence([item]))
            groups.append(group)
        dataset.PerFrameFunctionalGroupsSequence = Sequence(groups)
    dataset.save_as(path)
    return path


def _rows(path, window=None):
    frames = read_dicom(path, ReadOptions(size=16, channels=1, window=window))
    return [f.image[0, 0].astype(int) for f in frames]


def test_each_frame_is_rescaled_by_its_own_transformation(tmp_path):
    """Frame k is stored values * (k + 1): with a fixed window, frame 2 is brighter than 0."""
    rescale = "PixelValueTransformationSequence"
    frames = [{rescale: _item(RescaleSlope=k + 1, RescaleIntercept=0)} for k in range(3)]
    path = _enhanced(tmp_path / "e.dcm", per_frame=frames)
    rows = _rows(path, window=(1500.0, 3000.0))
    assert rows[0][-1] == 85 and rows[1][-1] == 170 and rows[2][-1] == 255
    assert rows[0][0] == rows[1][0] == rows[2][0] == 0


def test_a_shared_transformation_and_frame_window_are_used(tmp_path):
    """Shared slope 1, intercept -1000 and a Frame VOI LUT of -750..-250 (as the top-level
    attributes of an ordinary file give): the same view as that file."""
    shared = {
        "PixelValueTransformationSequence": _item(RescaleSlope=1, RescaleIntercept=-1000),
        "FrameVOILUTSequence": _item(WindowCenter=-500, WindowWidth=500),
    }
    enhanced = _enhanced(tmp_path / "e.dcm", shared=shared)
    plain = make_dicom(tmp_path / "p.dcm", STORED, intercept=-1000, window=(-500, 500))
    for a, b in zip(_rows(enhanced), _rows(plain)):
        assert np.array_equal(a, b)
    row = _rows(enhanced)[0]
    assert row[3] == 0 and row[12] == 255 and 130 < row[8] < 160


def test_per_frame_groups_that_do_not_match_the_frames_are_refused(tmp_path):
    rescale = "PixelValueTransformationSequence"
    frames = [{rescale: _item(RescaleSlope=2, RescaleIntercept=0)} for _ in range(2)]
    path = _enhanced(tmp_path / "e.dcm", per_frame=frames)
    with pytest.raises(SkipFile, match="2 per-frame functional groups for 3 frames"):
        read_dicom(path, ReadOptions(size=16, channels=1))
