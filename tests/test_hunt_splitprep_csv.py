"""A split.csv saved by a spreadsheet (BOM, CRLF) is still read; one naming a split other than
train/val/test is refused instead of leaving its rows out of every split; a grey+alpha image
is refused with resize_to's ValueError, not an OpenCV error."""

from __future__ import annotations

import numpy as np
import pytest

from gaunet.data import ImageSet, SourceError, apply_split, assign_split, read_split, write_split
from gaunet.data.prepare import resize_to
from gaunet.data.splits import apply_run_split, folder_split


def _data(n: int = 20) -> ImageSet:
    return ImageSet(
        images=np.zeros((n, 1, 4, 4), np.uint8),
        labels=np.asarray([0, 1] * (n // 2), np.int64),
        class_names=["a", "b"],
        groups=np.asarray([f"p{i}" for i in range(n)]),
        ids=np.asarray([f"img-{i}" for i in range(n)]),
    )


def test_split_csv_with_bom_and_crlf_is_read(tmp_path):
    data = assign_split(_data(), seed=2)
    path = tmp_path / "split.csv"
    write_split(path, data)
    text = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + text)
    assert read_split(path) == dict(zip(data.ids, data.split))
    assert list(apply_split(_data(), path).split) == list(data.split)
    assert list(apply_run_split(_data(), path).split) == list(data.split)
    assert list(folder_split(_data(), path, note=False).split) == list(data.split)


def test_split_csv_naming_an_unknown_split_is_refused(tmp_path):
    data = assign_split(_data(), seed=2)
    path = tmp_path / "split.csv"
    write_split(path, data)
    assert "val" in data.split
    path.write_bytes(path.read_bytes().replace(b",val\r\n", b",validation\r\n"))
    for use in (apply_split, apply_run_split, folder_split):
        with pytest.raises(SourceError, match="validation"):
            use(_data(), path)


def test_split_csv_without_a_split_column_is_refused(tmp_path):
    path = tmp_path / "split.csv"
    path.write_text("id,group\n" + "".join(f"img-{i},p{i}\n" for i in range(20)))
    with pytest.raises(SourceError, match="id and split columns"):
        apply_split(_data(), path)


@pytest.mark.parametrize("channels", [1, 3])
def test_grey_alpha_image_gives_a_value_error(channels):
    image = np.zeros((10, 12, 2), np.uint8)
    with pytest.raises(ValueError, match="from 2"):
        resize_to(image, 8, channels)
