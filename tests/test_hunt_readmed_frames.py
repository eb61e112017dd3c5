"""Reader bugs: a manifest `slice` on a multi-frame DICOM row, a uniform DICOM image, and TIFF
or 16-bit colour files turned on their side by an EXIF/TIFF Orientation tag."""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from data_helpers import make_dicom, write_csv
from PIL import Image, ImageOps, TiffImagePlugin

from gaunet.data import load_source
from gaunet.data.readers.image import _oriented, read_image
from gaunet.data.readers.items import ReadOptions
from gaunet.data.readers.medical import read_dicom


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def _frames_listed(folder: Path, frames: int, rows: list[list]):
    """A `frames`-frame DICOM (frame k uniform at 100 k) read through a manifest of `rows`."""
    stack = np.stack([np.full((8, 8), 100 * k, np.uint16) for k in range(frames)])
    make_dicom(folder / "mf.dcm", stack)
    csv = write_csv(folder / "labels.csv", ["path", "label", "slice"], rows)
    return load_source(str(csv), size=8, channels=1)


def test_slice_column_picks_one_frame_of_a_multi_frame_dicom(tmp_path):
    data = _frames_listed(tmp_path, 3, [["mf.dcm", "a", 0], ["mf.dcm", "b", 2]])
    # was 6 images: every frame once per row, each frame under both labels
    assert len(data.labels) == 2
    assert sorted(data.labels.tolist()) == [0, 1]
    means = {int(label): float(image.mean()) for label, image in zip(data.labels, data.images)}
    assert means[0] == 0 and means[1] == 255  # frame 0 (lowest) as a, frame 2 (highest) as b


def test_slice_beyond_the_frames_is_a_named_problem(tmp_path):
    data = _frames_listed(tmp_path, 2, [["mf.dcm", "a", 0], ["mf.dcm", "a", 5]])
    assert len(data.labels) == 1
    assert any("slice 5 is outside" in p.reason for p in data.problems)


def test_uniform_dicom_is_black_not_mid_grey(tmp_path):
    path = make_dicom(tmp_path / "blank.dcm", np.zeros((8, 8), np.uint16))
    (frame,) = read_dicom(path, ReadOptions(size=8, channels=1))
    assert int(frame.image.max()) == 0  # was 128 everywhere


@pytest.mark.parametrize("orientation", range(1, 9))
def test_grey_tiff_with_orientation_is_turned_not_scrambled(tmp_path, orientation):
    pixels = np.zeros((8, 16), np.uint8)
    pixels[:2, :4] = 255  # a corner mark, so every turn and flip differs
    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[0x0112] = orientation
    path = tmp_path / "side.tif"
    Image.fromarray(pixels).save(path, tiffinfo=info)
    expected = np.asarray(ImageOps.exif_transpose(_tagged(pixels, orientation)))
    frame = read_image(path, ReadOptions(size=16, channels=1))
    want = cv2.resize(expected, (16, 16), interpolation=cv2.INTER_CUBIC)
    # Pillow memory-mapped the file at its turned size: stripes for orientations 5..8
    assert np.abs(frame.image[0].astype(int) - want.astype(int)).max() <= 1


def _tagged(pixels: np.ndarray, orientation: int) -> Image.Image:
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.info["exif"] = exif.tobytes()
    return image


@pytest.mark.parametrize("orientation", range(1, 9))
def test_numpy_turns_match_pillow(orientation):
    pixels = np.arange(6 * 10 * 3, dtype=np.uint8).reshape(6, 10, 3)
    expected = np.asarray(ImageOps.exif_transpose(_tagged(pixels, orientation)))
    assert np.array_equal(_oriented(pixels, orientation), expected)


def test_sixteen_bit_colour_png_with_orientation_is_turned(tmp_path):
    grey = np.zeros((8, 16), np.uint16)
    grey[:, :8] = 4000  # left half bright; Orientation 6: turned clockwise, top half bright
    path = tmp_path / "side16.png"
    cv2.imwrite(str(path), np.stack([grey] * 3, axis=-1))  # Pillow cannot write 16-bit RGB
    exif = Image.Exif()
    exif[0x0112] = 6
    body = exif.tobytes().removeprefix(b"Exif\0\0")
    chunk = len(body).to_bytes(4, "big") + b"eXIf" + body
    chunk += zlib.crc32(b"eXIf" + body).to_bytes(4, "big")
    data = path.read_bytes()
    at = data.index(b"IDAT") - 4
    path.write_bytes(data[:at] + chunk + data[at:])
    frame = read_image(path, ReadOptions(size=8, channels=1))
    assert frame.mode == "RGB;16"
    top, bottom = frame.image[0, :3].mean(), frame.image[0, -3:].mean()
    assert top > 200 and bottom < 20  # was left bright, right dark: the file's stored view


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_sixteen_bit_colour_tiff_with_orientation_is_turned_once(tmp_path, orientation):
    grey = np.zeros((8, 16), np.uint16)
    grey[:2, :4] = 4000  # a corner mark
    path = tmp_path / "side16.tif"
    cv2.imwrite(str(path), np.stack([grey] * 3, axis=-1))
    _add_orientation(path, orientation)
    frame = read_image(path, ReadOptions(size=16, channels=1))
    expected = np.asarray(
        ImageOps.exif_transpose(_tagged((grey // 16).astype(np.uint8), orientation))
    )
    want = cv2.resize(expected, (16, 16), interpolation=cv2.INTER_CUBIC) / 250.0
    assert np.corrcoef(frame.image[0].ravel(), want.ravel())[0, 1] > 0.9


def _add_orientation(path: Path, orientation: int) -> None:
    """A copy of the TIFF's first directory, plus an Orientation entry, appended to the file."""
    data = bytearray(path.read_bytes())
    order = "little" if data[:2] == b"II" else "big"
    offset = int.from_bytes(data[4:8], order)
    count = int.from_bytes(data[offset : offset + 2], order)
    entries = data[offset + 2 : offset + 2 + 12 * count]
    tags = [int.from_bytes(entries[i * 12 : i * 12 + 2], order) for i in range(count)]
    assert 0x0112 not in tags
    # append a new IFD with the extra entry at the end of the file
    new = bytearray()
    items = [bytes(entries[i * 12 : i * 12 + 12]) for i in range(count)]
    orient = (
        (0x0112).to_bytes(2, order)
        + (3).to_bytes(2, order)
        + (1).to_bytes(4, order)
        + orientation.to_bytes(2, order)
        + b"\0\0"
    )
    items.append(orient)
    items.sort(key=lambda e: int.from_bytes(e[:2], order))
    new += len(items).to_bytes(2, order) + b"".join(items) + (0).to_bytes(4, order)
    start = len(data) + (len(data) % 2)
    data += b"\0" * (start - len(data)) + new
    data[4:8] = start.to_bytes(4, order)
    path.write_bytes(bytes(data))
