"""DICOM via a manifest: rescale, window (file or given), MONOCHROME1, PatientID groups."""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import make_dicom, write_csv

from gaunet.data import load_source


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


# stored 0..1000 in steps along x; with slope 1, intercept -1000 that is -1000..0 "HU"
STORED = np.tile(np.linspace(0, 1000, 16).astype(np.uint16), (16, 1))


def _source(tmp_path, files, extra_columns=None):
    rows = [[name, label] + (extra_columns or {}).get(name, []) for name, label in files]
    header = ["path", "label"] + (["patient_id"] if extra_columns else [])
    return write_csv(tmp_path / "labels.csv", header, rows)


def test_window_from_file_and_rescale(tmp_path):
    make_dicom(tmp_path / "d" / "a.dcm", STORED, intercept=-1000, window=(-500, 500))
    make_dicom(tmp_path / "d" / "b.dcm", STORED, intercept=-1000, window=(-500, 500))
    data = load_source(_source(tmp_path, [("d/a.dcm", "x"), ("d/b.dcm", "y")]), 16, 1)
    row = data.images[0, 0, 0].astype(int)
    # window -750..-250 HU: stored <= 250 is black, >= 750 white, linear between
    assert row[0] == 0 and row[-1] == 255
    assert row[3] == 0 and row[12] == 255 and 130 < row[8] < 160
    assert data.info["kind"] == "dicom"


def test_given_window_overrides_file(tmp_path):
    make_dicom(tmp_path / "a.dcm", STORED, intercept=-1000, window=(-500, 500))
    make_dicom(tmp_path / "b.dcm", STORED, intercept=-1000, window=(-500, 500))
    csv = _source(tmp_path, [("a.dcm", "x"), ("b.dcm", "x")])
    wide = load_source(csv, 16, 1, window=(-500.0, 1000.0))
    row = wide.images[0, 0, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255 and 0 < row[4] < row[8] < row[12] < 255


def test_no_window_uses_the_image_range(tmp_path):
    make_dicom(tmp_path / "a.dcm", STORED, slope=2.0)
    make_dicom(tmp_path / "b.dcm", STORED)
    data = load_source(_source(tmp_path, [("a.dcm", "x"), ("b.dcm", "x")]), 16, 1)
    assert data.images[0, 0, 0, 0] == 0 and data.images[0, 0, 0, -1] == 255


def test_monochrome1_is_inverted(tmp_path):
    make_dicom(tmp_path / "m2.dcm", STORED)
    make_dicom(tmp_path / "m1.dcm", STORED, photometric="MONOCHROME1")
    data = load_source(_source(tmp_path, [("m2.dcm", "x"), ("m1.dcm", "x")]), 16, 1)
    assert np.array_equal(data.images[1], 255 - data.images[0])


def test_patient_id_from_header_unless_manifest_has_one(tmp_path):
    make_dicom(tmp_path / "a.dcm", STORED, patient_id="HEADER-1")
    make_dicom(tmp_path / "b.dcm", STORED, patient_id="HEADER-2")
    from_header = load_source(_source(tmp_path, [("a.dcm", "x"), ("b.dcm", "y")]), 16)
    groups = list(from_header.groups)
    assert len(set(groups)) == 2 and not {"HEADER-1", "HEADER-2"} & set(groups)
    csv = _source(tmp_path, [("a.dcm", "x"), ("b.dcm", "y")], {"a.dcm": ["M"], "b.dcm": ["M"]})
    groups = list(load_source(csv, 16).groups)
    assert len(set(groups)) == 1 and groups[0] != "M"


def test_dicom_without_extension_is_recognised(tmp_path):
    make_dicom(tmp_path / "IM0001", STORED)
    make_dicom(tmp_path / "IM0002", STORED)
    data = load_source(_source(tmp_path, [("IM0001", "x"), ("IM0002", "y")]), 16)
    assert len(data) == 2 and data.problems == []


def test_dicom_without_pixel_data_is_skipped(tmp_path):
    make_dicom(tmp_path / "a.dcm", STORED)
    make_dicom(tmp_path / "b.dcm", STORED)
    make_dicom(tmp_path / "empty.dcm", STORED, with_pixels=False)
    csv = _source(tmp_path, [("a.dcm", "x"), ("b.dcm", "x"), ("empty.dcm", "x")])
    data = load_source(csv, 16)
    assert len(data) == 2
    assert [p.reason for p in data.problems] == ["DICOM file without pixel data"]
    assert data.problems[0].path.endswith("empty.dcm")


@pytest.mark.parametrize("empty", ["", "center", "width", "zero"])
def test_an_empty_or_unusable_file_window_falls_back_to_the_image_range(tmp_path, empty):
    """De-identified files keep WindowCenter/WindowWidth with no value: the image range is
    used, as without the tags, instead of skipping the file."""
    import pydicom

    path = make_dicom(tmp_path / "d" / "a.dcm", STORED, intercept=-1000, window=(-500, 500))
    dataset = pydicom.dcmread(path)
    if empty in ("", "center"):
        dataset.WindowCenter = None
    if empty in ("", "width"):
        dataset.WindowWidth = None
    if empty == "zero":
        dataset.WindowWidth = 0
    dataset.save_as(path)
    make_dicom(tmp_path / "d" / "b.dcm", STORED, intercept=-1000)  # no window tags at all
    data = load_source(_source(tmp_path, [("d/a.dcm", "x"), ("d/b.dcm", "y")]), size=16)
    assert not data.problems and len(data) == 2
    assert np.array_equal(data.images[0], data.images[1])


def _with_voi_lut(path, table_bits: int = 8):
    """A CR/DX-style file: its view is a VOI LUT Sequence (a gamma-like table over stored
    0..1000), not a window."""
    import pydicom
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(path)
    item = Dataset()
    entries = np.arange(1001)
    top = 2**table_bits - 1
    item.add_new(0x00283002, "US", [1001, 0, table_bits])  # LUT Descriptor
    item.add_new(0x00283006, "US", [int(v) for v in np.rint(top * np.sqrt(entries / 1000.0))])
    ds.VOILUTSequence = [item]
    ds.save_as(path, enforce_file_format=True)


@pytest.mark.parametrize("table_bits", [12, 16])
def test_a_voi_lut_sequence_gives_the_view_it_describes(tmp_path, table_bits):
    """Without a WindowCenter, a VOI LUT table was ignored and the image stretched to its own
    min..max: a linear ramp where the file asks for a square-root curve."""
    for name in ("a.dcm", "b.dcm"):
        _with_voi_lut(make_dicom(tmp_path / name, STORED), table_bits)
    data = load_source(_source(tmp_path, [("a.dcm", "x"), ("b.dcm", "x")]), 16, 1)
    row = data.images[0, 0, 0].astype(float)
    expected = 255.0 * np.sqrt(STORED[0] / 1000.0)
    assert np.abs(row - expected).max() <= 1.5, (row, expected)
    assert row[4] > 255 * 4 / 15 + 40  # well above the linear ramp a min..max stretch gives
