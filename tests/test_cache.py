"""The decoded-array cache: keyed by files, size and channels; atomic; corrupt entries rebuilt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_helpers import make_tree

from gaunet.data import load_source


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def test_one_entry_per_size_and_channels(tmp_path):
    make_tree(tmp_path / "src", {"a": 2, "b": 2})
    for size, channels in ((16, 3), (16, 1), (24, 3), (16, 3)):
        load_source(tmp_path / "src", size=size, channels=channels)
    entries = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(entries) == 3
    assert not any(name.startswith(".") for name in entries)  # no temporary left


def test_corrupt_cache_is_rebuilt(tmp_path):
    make_tree(tmp_path / "src", {"a": 2, "b": 2})
    first = load_source(tmp_path / "src", size=16)
    Path(first.info["cache"]).write_bytes(b"not an npz at all")
    again = load_source(tmp_path / "src", size=16)
    assert np.array_equal(first.images, again.images)
    assert np.load(again.info["cache"])["images"].shape == (4, 3, 16, 16)


def test_cache_keeps_problems_and_split(tmp_path):
    make_tree(tmp_path / "src", {"a": 2, "b": 2})
    (tmp_path / "src" / "a" / "empty.png").write_bytes(b"")
    first = load_source(tmp_path / "src", size=16)
    again = load_source(tmp_path / "src", size=16)
    assert again.problems == first.problems and len(first.problems) == 1
    assert again.class_names == first.class_names and again.split is None


def test_no_cache_when_disabled(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_NO_CACHE", "1")
    make_tree(tmp_path / "src", {"a": 2, "b": 2})
    data = load_source(tmp_path / "src", size=16)
    assert "cache" not in data.info and not (tmp_path / "cache").exists()


def test_one_source_read_two_ways_keeps_both_entries(tmp_path):
    """Entries of one source at one size differing only in --window (or --skip-blank-slices)
    evicted each other: reading it both ways in turn decoded it every time."""
    make_tree(tmp_path / "src", {"a": 2, "b": 2})
    for window in ((40.0, 400.0), (50.0, 300.0), None):
        load_source(tmp_path / "src", size=16, channels=1, window=window)
    entries = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(entries) == 3
    again = load_source(tmp_path / "src", size=16, channels=1, window=(40.0, 400.0))
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == entries
    assert again.info["cache"] in {str(tmp_path / "cache" / name) for name in entries}
