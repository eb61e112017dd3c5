"""Hunt: ImageSet row selection, phantom spec parsing and opaque-id lookup edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_helpers import make_dicom

from gaunet.data import SourceError, load_source
from gaunet.data.ids import lookup
from gaunet.data.imageset import ImageSet
from gaunet.data.phantom import parse_phantom_spec


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def _set_with_split() -> ImageSet:
    n = 6
    return ImageSet(
        images=np.zeros((n, 1, 8, 8), dtype=np.uint8),
        labels=np.asarray([0, 1, 0, 1, 0, 1], dtype=np.int64),
        class_names=["a", "b"],
        groups=np.asarray([f"g{i}" for i in range(n)]),
        ids=np.asarray([f"i{i}" for i in range(n)]),
        split=np.asarray(["train", "train", "val", "val", "test", "test"]),
        source="fixture",
    )


def test_where_split_refuses_an_unknown_split_name() -> None:
    data = _set_with_split()
    assert len(data.where_split("val")) == 2
    for wrong in ("validation", "Train", "valid"):
        with pytest.raises(ValueError, match="unknown split"):
            data.where_split(wrong)


def test_subset_of_an_empty_list_is_an_empty_set() -> None:
    data = _set_with_split()
    empty = data.subset([])
    assert len(empty) == 0 and empty.class_names == ["a", "b"]
    assert empty.split is not None and len(empty.split) == 0


@pytest.mark.parametrize("spec", ["phantom:n=10,n=20", "phantom:seed=1,classes=3,seed=2"])
def test_phantom_option_given_twice_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="twice"):
        parse_phantom_spec(spec)
    with pytest.raises(SourceError, match="twice"):
        load_source(spec, size=16, channels=1)


def test_phantom_non_ascii_digit_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="not understood"):
        load_source("phantom:n=\u00b2", size=16, channels=1)


def _multiframe_dicom(path: Path, seed: int, frames: int = 3) -> None:
    pixels = np.random.default_rng(seed).integers(0, 4000, (frames, 16, 16))
    make_dicom(path, pixels)


def test_lookup_finds_frames_of_uid_named_dicoms(tmp_path: Path) -> None:
    """PACS exports name DICOM files by UID (dots, no extension): the reader reads them by
    the DICM marker, so `lookup` must try their `#k` frame ids too."""
    pytest.importorskip("pydicom")
    root = tmp_path / "tree"
    for c, cls in enumerate(("a", "b")):
        for k in range(2):
            _multiframe_dicom(root / cls / f"1.2.840.113619.{c}.{k}", seed=10 * c + k)
    data = load_source(root, size=16, channels=1)
    assert len(data) == 12
    found = lookup(root, data.ids)
    assert len(found) == 12
    assert found[data.ids[0]] == "a/1.2.840.113619.0.0#0"
