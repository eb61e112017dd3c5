"""Reader inputs a medical-imaging user plausibly has, each once read wrongly without a word:
16-bit colour PNG/TIFF, DICOM files named by their UID, PALETTE COLOR and 1x1 DICOM, and
.npz archives of 16-bit, integer or float images (one scale for the archive)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from data_helpers import make_dicom, write_csv, write_image
from PIL import Image

from gaunet.data import load_source
from gaunet.data.readers.decode import decode_file
from gaunet.data.readers.items import ReadOptions, SkipFile


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


RAMP = np.tile(np.linspace(0, 4095, 16), (16, 1)).astype(np.uint16)  # 12-bit data


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_colour_keeps_its_depth(tmp_path, suffix):
    """A 16-bit RGB file holding 12-bit data reads as bright as the same data in 16-bit grey
    (Pillow keeps only the high byte of each colour sample: 0..15 instead of 0..255)."""
    rgb = np.stack([RAMP, RAMP // 2, np.zeros_like(RAMP)], axis=-1)
    cv2.imwrite(str(tmp_path / f"rgb{suffix}"), rgb[..., ::-1])  # OpenCV writes BGR
    Image.fromarray(RAMP).save(tmp_path / f"grey{suffix}")
    options = ReadOptions(size=16, channels=3)
    colour = decode_file(tmp_path / f"rgb{suffix}", options)[0]
    grey = decode_file(tmp_path / f"grey{suffix}", options)[0]
    assert colour.depth == grey.depth == 12 and colour.mode.endswith(";16")
    assert np.array_equal(colour.image[0], grey.image[0])  # red is the full ramp
    assert abs(int(colour.image[1].max()) - 128) <= 1 and colour.image[2].max() == 0


def test_eight_bit_colour_is_unchanged(tmp_path):
    write_image(tmp_path / "a.png", mode="RGB")
    frame = decode_file(tmp_path / "a.png", ReadOptions(size=20, channels=3))[0]
    assert frame.mode == "RGB" and frame.depth == 0
    expected = np.asarray(Image.open(tmp_path / "a.png")).transpose(2, 0, 1)
    assert np.array_equal(frame.image, expected)


UID_NAME = "1.2.840.113619.2.55.3.604688119.969.1268071029.320"


def test_dicom_named_by_its_uid_is_read_in_a_class_folder(tmp_path):
    stored = np.tile(np.linspace(0, 1000, 16), (16, 1))
    for label in ("a", "b"):
        make_dicom(tmp_path / label / UID_NAME, stored, patient_id=f"P{label}1")
        make_dicom(tmp_path / label / f"{UID_NAME}1", stored, patient_id=f"P{label}2")
    data = load_source(tmp_path, size=16, channels=1)
    assert len(data) == 4 and not data.problems
    assert data.info["modes"] == {"DICOM MONOCHROME2": 4}


def test_dicom_named_by_its_uid_is_read_from_a_manifest(tmp_path):
    stored = np.tile(np.linspace(0, 1000, 16), (16, 1))
    make_dicom(tmp_path / "d" / UID_NAME, stored)
    make_dicom(tmp_path / "d" / "IM0001.2", stored, patient_id="P2")
    csv = write_csv(
        tmp_path / "m.csv", ["path", "label"], [[f"d/{UID_NAME}", "x"], ["d/IM0001.2", "y"]]
    )
    data = load_source(csv, size=16, channels=1)
    assert len(data) == 2 and not data.problems


def test_a_text_file_with_a_dotted_name_is_still_unsupported(tmp_path):
    (tmp_path / "notes.v2.txt").write_text("not an image")
    with pytest.raises(SkipFile, match="unsupported format '.txt'"):
        decode_file(tmp_path / "notes.v2.txt", ReadOptions(size=16))


def _palette_dicom(path, with_table=True):
    """8-bit PALETTE COLOR indices 0..3 whose table maps every index to pure red."""
    from pydicom import dcmread
    from pydicom.dataelem import DataElement

    make_dicom(path, np.zeros((16, 16)), photometric="PALETTE COLOR")
    ds = dcmread(path)
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelData = np.tile(np.arange(4, dtype=np.uint8), (16, 4)).tobytes()
    if with_table:
        for tag in (0x00281101, 0x00281102, 0x00281103):
            ds[tag] = DataElement(tag, "US", [256, 0, 16])
        ds.RedPaletteColorLookupTableData = np.full(256, 65535, np.uint16).tobytes()
        ds.GreenPaletteColorLookupTableData = np.zeros(256, np.uint16).tobytes()
        ds.BluePaletteColorLookupTableData = np.zeros(256, np.uint16).tobytes()
    ds.save_as(path)
    return path


def test_palette_colour_dicom_goes_through_its_colour_table(tmp_path):
    frame = decode_file(_palette_dicom(tmp_path / "p.dcm"), ReadOptions(size=16, channels=3))[0]
    assert frame.image[0].min() == 255 and frame.image[1:].max() == 0  # red, not grey indices


def test_palette_colour_dicom_without_a_table_is_skipped(tmp_path):
    with pytest.raises(SkipFile, match="colour table"):
        decode_file(_palette_dicom(tmp_path / "p.dcm", False), ReadOptions(size=16, channels=3))


@pytest.mark.parametrize("shape", [(1, 1), (1, 40)])
def test_dicom_under_two_pixels_is_skipped_like_an_image(tmp_path, shape):
    make_dicom(tmp_path / "t.dcm", np.zeros(shape))
    with pytest.raises(SkipFile, match="too small to use"):
        decode_file(tmp_path / "t.dcm", ReadOptions(size=16, channels=1))


def _npz(path, images):
    np.savez(path, train_images=images, train_labels=np.arange(len(images)) % 2)
    return path


def _means(data):
    return data.images.reshape(len(data), -1).mean(1)


def test_uint16_npz_keeps_brightness_between_images(tmp_path):
    """Flat images at 1000, 4000, 30000 and 60000: each scaled by its own depth, 1000 and 4000
    both came out at 249 and brighter than 30000 (117)."""
    levels = np.asarray([1000, 4000, 30000, 60000], dtype=np.uint16)
    images = np.ones((4, 8, 8), np.uint16) * levels[:, None, None]
    means = _means(load_source(_npz(tmp_path / "d.npz", images), size=8, channels=1))
    assert np.all(np.diff(means) > 0)
    assert np.allclose(means, np.rint(levels / 65535 * 255), atol=1)


def test_uint16_npz_scaled_like_the_same_pngs_in_a_folder(tmp_path):
    levels = [500, 1000, 2000, 3000]
    images = np.stack([RAMP // 8 + level for level in levels]).astype(np.uint16)
    data = load_source(_npz(tmp_path / "d.npz", images), size=16, channels=1)
    for i, image in enumerate(images):
        (tmp_path / "f" / str(i % 2)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "f" / str(i % 2) / f"{i}.png")
    folder = load_source(tmp_path / "f", size=16, channels=1)
    # the folder rescales each file's own-depth uint8 once more: within one level
    assert np.allclose(np.sort(_means(folder)), np.sort(_means(data)), atol=0.5)
    assert data.info["notes"] == folder.info["notes"]  # "... scaled as 12-bit"


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_float_and_integer_npz_share_one_range(tmp_path, dtype):
    """A float 0..255 (or CT int16) archive: a dark image stays dark, not stretched to 0..255."""
    ramp = np.tile(np.linspace(0, 1, 8), (8, 1))
    images = (ramp * np.asarray([64, 255, 64, 255])[:, None, None]).astype(dtype)
    data = load_source(_npz(tmp_path / "d.npz", images), size=8, channels=1)
    assert data.images[0].max() == 64 and data.images[1].max() == 255


def test_float_npz_in_unit_range_and_nan_note_unchanged(tmp_path):
    ramp = np.tile(np.linspace(0, 1, 8), (8, 1))
    images = (ramp * np.asarray([0.25, 1, 0.25, 1])[:, None, None]).astype(np.float32)
    images[2, 0, 3] = np.nan
    data = load_source(_npz(tmp_path / "d.npz", images), size=8, channels=1)
    assert data.images[0].max() == 64 and data.images[1].max() == 255
    assert data.images[2, 0, 0, 3] == 0  # the image's lowest finite value
    assert list(data.info["notes"].values()) == [1]


def test_a_sub_folder_that_cannot_be_listed_is_reported(tmp_path, monkeypatch):
    """os.walk passes over a folder it cannot list (no permission, a dead network mount)
    without a word: its images vanished from the count."""
    import os

    for i in range(3):
        write_image(tmp_path / "a" / f"{i}.png", seed=i)
        write_image(tmp_path / "b" / f"{i}.png", seed=10 + i)
        write_image(tmp_path / "b" / "locked" / f"{i}.png", seed=20 + i)
    locked = str(tmp_path / "b" / "locked")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    data = load_source(tmp_path, size=16, channels=1)
    assert len(data) == 6
    assert [(p.path, p.reason) for p in data.problems] == [
        (locked, "folder cannot be listed (Permission denied); not read")
    ]
