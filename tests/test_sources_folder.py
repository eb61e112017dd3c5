"""Class-folder trees: nesting, formats, modes, odd names, class order, channels, cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_helpers import clear_ids, make_tree, partition, pattern, write_image

from gaunet.data import load_source, to_unit_range


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


@pytest.mark.parametrize(
    ("suffix", "mode"),
    [
        (".png", "L"),
        (".png", "RGB"),
        (".png", "RGBA"),
        (".png", "P"),
        (".png", "I;16"),
        (".jpg", "L"),
        (".jpeg", "RGB"),
        (".tif", "L"),
        (".tiff", "I;16"),
        (".bmp", "RGB"),
    ],
)
def test_every_format_and_mode_loads(tmp_path, suffix, mode):
    make_tree(tmp_path / "src", {"b": 2, "a": 3}, suffix=suffix, mode=mode)
    data = load_source(tmp_path / "src", size=16, channels=3)
    assert data.class_names == ["a", "b"]
    assert data.class_counts() == {"a": 3, "b": 2}
    assert data.images.shape == (5, 3, 16, 16) and data.images.dtype == np.uint8
    assert data.problems == []
    # grey content: the replicated channels are equal and the image is not flat
    assert np.array_equal(data.images[:, 0], data.images[:, 1])
    assert data.images.std() > 5


def test_nested_folders_spaces_and_parentheses(tmp_path):
    root = tmp_path / "my data (v2)"
    write_image(root / "benign" / "case 1" / "scan (1).png", seed=1)
    write_image(root / "benign" / "case 1" / "deeper" / "scan (2).png", seed=2)
    write_image(root / "malignant" / "x y.png", seed=3)
    write_image(root / "malignant" / "z.png", seed=4)
    data = load_source(root, size=16)
    assert sorted(clear_ids(root, data)) == [
        "benign/case 1/deeper/scan (2).png",
        "benign/case 1/scan (1).png",
        "malignant/x y.png",
        "malignant/z.png",
    ]
    assert partition(data.groups) == partition(
        data.ids
    )  # no patient ids: each image is its own group
    assert data.split is None


def test_grey_to_one_channel_and_unit_range(tmp_path):
    write_image(tmp_path / "s" / "a" / "0.png", seed=0, size=16)
    write_image(tmp_path / "s" / "a" / "1.png", seed=1, size=16)
    write_image(tmp_path / "s" / "b" / "0.png", seed=2, size=16)
    write_image(tmp_path / "s" / "b" / "1.png", seed=3, size=16)
    data = load_source(tmp_path / "s", size=16, channels=1)
    assert data.images.shape == (4, 1, 16, 16)
    assert np.array_equal(data.images[0, 0], pattern(0, 16))  # 16 px in, 16 px out: exact
    unit = to_unit_range(data.images)
    assert unit.min() >= -1.0 and unit.max() <= 1.0


def test_colour_kept_with_three_channels(tmp_path):
    from PIL import Image

    for cls, colour in (("red", (200, 10, 10)), ("blue", (10, 10, 200))):
        for i in range(2):
            path = tmp_path / "c" / cls / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (12, 12), colour).save(path)
    data = load_source(tmp_path / "c", size=8)
    red = data.images[data.labels == data.class_names.index("red")][0]
    assert red[0].mean() > 150 and red[2].mean() < 50


def test_second_load_uses_cache_and_change_invalidates(tmp_path):
    make_tree(tmp_path / "src", {"a": 2, "b": 2})
    first = load_source(tmp_path / "src", size=16)
    cache_file = first.info["cache"]
    second = load_source(tmp_path / "src", size=16)
    assert second.info["cache"] == cache_file
    assert np.array_equal(first.images, second.images)
    write_image(tmp_path / "src" / "a" / "new.png", seed=99)
    third = load_source(tmp_path / "src", size=16)
    assert third.info["cache"] != cache_file and len(third) == 5


def test_a_multi_page_tiff_says_that_only_its_first_page_is_read(tmp_path):
    from PIL import Image

    from gaunet.data.readers.image import MULTI_PAGE_NOTE

    for name in ("a", "b"):
        write_image(tmp_path / name / "one.png", seed=1)
    pages = [Image.fromarray(np.full((16, 16), v, np.uint8)) for v in (10, 120, 240)]
    pages[0].save(tmp_path / "a" / "stack.tif", save_all=True, append_images=pages[1:])
    write_image(tmp_path / "b" / "two.png", seed=2)
    data = load_source(tmp_path, size=8, channels=1)
    assert len(data) == 4 and data.info["notes"] == {MULTI_PAGE_NOTE: 1}
    stack = clear_ids(tmp_path, data).index("a/stack.tif")
    assert int(data.images[stack].max()) == 10  # the first page


def test_a_file_skipped_for_the_pixel_limit_is_read_once_the_limit_is_raised(tmp_path, monkeypatch):
    """The skip message says to raise PIL.Image.MAX_IMAGE_PIXELS; the cached skip must not
    outlive that."""
    from PIL import Image

    make_tree(tmp_path / "src", {"a": 2, "b": 2})
    Image.fromarray(np.full((40, 40), 90, np.uint8)).save(tmp_path / "src" / "a" / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    first = load_source(tmp_path / "src", size=16)
    assert len(first) == 4 and "image too large" in first.problems[0].reason
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10**9)
    second = load_source(tmp_path / "src", size=16)
    assert len(second) == 5 and not second.problems


def test_an_exif_rotated_image_is_read_as_a_viewer_shows_it(tmp_path):
    """Orientation 6 (stored on its side, to be turned 90 degrees clockwise)."""
    from PIL import Image

    stored = np.zeros((16, 24), np.uint8)
    stored[:4, :] = 255  # a bright band along the stored top edge
    exif = Image.Exif()
    exif[0x0112] = 6
    for cls in ("a", "b"):
        for k in range(2):
            (tmp_path / cls).mkdir(exist_ok=True)
            Image.fromarray(stored).save(tmp_path / cls / f"{k}.png", exif=exif)
    data = load_source(tmp_path, size=24, channels=1)
    shown = np.rot90(stored, -1)  # turned clockwise: the band is now on the right
    assert data.info["sizes"] == {"24x16": 4}  # width x height as stored
    assert data.images[0, 0, :, -2:].min() > 200 and data.images[0, 0, :, :2].max() < 50
    assert shown[:, -4:].min() == 255


def test_a_file_replaced_keeping_its_size_and_mtime_is_decoded_again(tmp_path):
    """`cp -p` (or an archive that stores whole seconds) keeps size and mtime: the cache key
    also holds ctime and inode, which no copy keeps."""
    import os
    import shutil

    make_tree(tmp_path / "src", {"a": 2, "b": 2}, suffix=".bmp")  # BMP: one size per shape
    first = load_source(tmp_path / "src", size=16)
    target = sorted((tmp_path / "src" / "a").iterdir())[0]
    stat = target.stat()
    write_image(tmp_path / "other.bmp", seed=77)
    shutil.copyfile(tmp_path / "other.bmp", tmp_path / "other-same-size.bmp")
    assert (tmp_path / "other.bmp").stat().st_size == stat.st_size
    os.replace(tmp_path / "other-same-size.bmp", target)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = load_source(tmp_path / "src", size=16)
    assert second.info["cache"] != first.info["cache"]
    assert not np.array_equal(first.images, second.images)


def test_the_cache_keeps_one_entry_per_source_and_none_from_other_reader_code(
    tmp_path, monkeypatch
):
    import gaunet.data.cache as cache

    make_tree(tmp_path / "src", {"a": 2, "b": 2})
    load_source(tmp_path / "src", size=16)
    write_image(tmp_path / "src" / "a" / "new.png", seed=5)
    second = load_source(tmp_path / "src", size=16)
    entries = list((tmp_path / "cache").glob("folder-src-*.npz"))
    assert [p.name for p in entries] == [Path(second.info["cache"]).name]  # the older removed
    cache.reader_fingerprint.cache_clear()
    monkeypatch.setattr(cache, "reader_fingerprint", lambda: "another-gaunet")
    third = load_source(tmp_path / "src", size=16)
    assert third.info["cache"] != second.info["cache"]  # decoded again, not read back


def test_an_unreadable_cache_folder_only_costs_speed(tmp_path, monkeypatch):
    from pathlib import Path as _Path

    make_tree(tmp_path / "src", {"a": 2, "b": 2})
    original = _Path.is_file

    def denied(self):
        if "cache" in self.parts:
            raise PermissionError(13, "Permission denied", str(self))
        return original(self)

    monkeypatch.setattr(_Path, "is_file", denied)
    assert len(load_source(tmp_path / "src", size=16)) == 4


def test_a_folder_named_phantom_is_not_taken_for_the_built_in_set(tmp_path, monkeypatch):
    from gaunet.data import SourceError

    monkeypatch.chdir(tmp_path)
    make_tree(tmp_path / "phantom", {"a": 2, "b": 2})
    with pytest.raises(SourceError, match="write ./phantom for the path"):
        load_source("phantom", size=16)
    assert len(load_source("./phantom", size=16)) == 4


@pytest.mark.parametrize(
    "dtype, bright, dark",
    [(np.float32, (-1000.0, 1000.0), (-1000.0, 0.0)),  # CT in HU
     (np.int16, (-1000, 1000), (-1000, 0))],
)  # fmt: skip
def test_float_and_signed_tiffs_share_one_range(tmp_path, dtype, bright, dark):
    """Each float or signed TIFF was stretched to its own min..max, so an image of -1000..0 HU
    came out as bright as one of -1000..1000; the source now has one range, with a note."""
    import cv2

    for name, (low, high) in (("bright", bright), ("dark", dark)):
        (tmp_path / "src" / name).mkdir(parents=True)
        ramp = np.tile(np.linspace(low, high, 32).astype(dtype), (32, 1))
        for k in range(2):
            cv2.imwrite(str(tmp_path / "src" / name / f"{k}.tif"), ramp)
    data = load_source(tmp_path / "src", 16, 1)
    top = {
        data.class_names[label]: int(image.max()) for image, label in zip(data.images, data.labels)
    }
    assert top["bright"] >= 250 and 120 <= top["dark"] <= 135, top
    assert any("the source's range -1000..1000" in note for note in data.info["notes"])
