"""The decoded-image cache never serves what is no longer true: a skip of the moment (memory,
an OS error), a damaged or inconsistent entry, another decoder or ids code, a same-second edit
on a filesystem with whole-second timestamps; and `data inspect` names no entry it never wrote."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from stat import S_ISREG

import numpy as np
import pytest
from data_helpers import make_tree, write_image

import gaunet.data.cache as cache
import gaunet.data.readers.build as build
import gaunet.data.readers.decode as decode
from gaunet.cli import main
from gaunet.data import load_source


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def test_a_file_skipped_for_lack_of_memory_is_decoded_again_next_time(tmp_path, monkeypatch):
    make_tree(tmp_path / "src", {"a": 3, "b": 3})
    real = build.decode_file

    def short_of_memory(path, options, slice_index=None):
        if path.name == "a (0).png":
            raise MemoryError
        return real(path, options, slice_index)

    monkeypatch.setattr(build, "decode_file", short_of_memory)
    first = load_source(tmp_path / "src", size=16)
    assert len(first) == 5 and "memory" in first.problems[0].reason
    monkeypatch.setattr(build, "decode_file", real)
    second = load_source(tmp_path / "src", size=16)
    assert len(second) == 6 and second.problems == []


def test_a_file_skipped_for_an_io_error_is_decoded_again_next_time(tmp_path, monkeypatch):
    make_tree(tmp_path / "src", {"a": 3, "b": 3})
    real = decode.read_image

    def flaky_disk(path, options):
        if path.name == "b (1).png":
            raise OSError(5, "Input/output error")
        return real(path, options)

    monkeypatch.setattr(decode, "read_image", flaky_disk)
    first = load_source(tmp_path / "src", size=16)
    assert "[Errno 5]" in first.problems[0].reason
    monkeypatch.setattr(decode, "read_image", real)
    second = load_source(tmp_path / "src", size=16)
    assert len(second) == 6 and second.problems == []
    third = load_source(tmp_path / "src", size=16)  # now cached
    assert Path(third.info["cache"]).is_file() and np.array_equal(third.images, second.images)


def test_a_damaged_entry_is_rebuilt_with_a_note(tmp_path):
    make_tree(tmp_path / "src", {"a": 2, "b": 2})
    first = load_source(tmp_path / "src", size=16)
    entry = Path(first.info["cache"])
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    second = load_source(tmp_path / "src", size=16)
    assert np.array_equal(first.images, second.images)
    notes = [n for n in second.info.get("notes", {}) if "could not be read" in n]
    assert len(notes) == 1 and str(entry) in notes[0] and "rewritten" in notes[0]
    third = load_source(tmp_path / "src", size=16)  # the rewritten entry, without the note
    assert third.info.get("notes", {}) == {} and np.array_equal(first.images, third.images)


def test_an_entry_whose_content_contradicts_it_is_not_served(tmp_path):
    make_tree(tmp_path / "src", {"a": 2, "b": 2})
    first = load_source(tmp_path / "src", size=16)
    entry = Path(first.info["cache"])
    with np.load(entry, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["labels"] = arrays["labels"] + 5  # a well-formed zip holding impossible labels
    with open(entry, "wb") as handle:
        np.savez(handle, **arrays)
    second = load_source(tmp_path / "src", size=16)
    assert np.array_equal(second.labels, first.labels)
    assert any("could not be read" in n for n in second.info.get("notes", {}))


def test_the_key_covers_the_ids_code(tmp_path, monkeypatch):
    """ids.py decides the opaque ids an entry stores: another version of it must not read an
    entry this one wrote (its split.csv ids would not match)."""
    data = Path(cache.__file__).parent
    copy = tmp_path / "data"
    shutil.copytree(data, copy, ignore=shutil.ignore_patterns("__pycache__"))
    cache.reader_fingerprint.cache_clear()
    monkeypatch.setattr(cache, "__file__", str(copy / "cache.py"))
    before = cache.reader_fingerprint()
    ids = copy / "ids.py"
    ids.write_text(ids.read_text().replace('"gaunet-ids-v1"', '"gaunet-ids-v2"'))
    cache.reader_fingerprint.cache_clear()
    after = cache.reader_fingerprint()
    cache.reader_fingerprint.cache_clear()
    assert before != after


def test_another_decoder_version_makes_a_new_entry(tmp_path, monkeypatch):
    import importlib.metadata

    make_tree(tmp_path / "src", {"a": 2, "b": 2})
    first = load_source(tmp_path / "src", size=16)
    real = importlib.metadata.version

    def upgraded(name):
        return "999.0" if name.lower() == "pillow" else real(name)

    monkeypatch.setattr(importlib.metadata, "version", upgraded)
    cache.decoder_versions.cache_clear()  # read once a process: as a new process would
    try:
        second = load_source(tmp_path / "src", size=16)
    finally:
        cache.decoder_versions.cache_clear()
    assert second.info["cache"] != first.info["cache"]


def test_a_same_second_edit_on_a_whole_second_filesystem_is_seen(tmp_path, monkeypatch):
    """HFS+, ext3, FAT, some network shares store whole seconds: a same-size edit in the same
    second keeps size, mtime, ctime and inode, so an entry written then would be served. Files
    older than the lookup are cached as before."""
    src = make_tree(tmp_path / "src", {"a": 2, "b": 2}, suffix=".bmp")  # one size per shape
    stamp = {"seconds": int(time.time())}
    real_stat = Path.stat

    def coarse(self, *args, **kwargs):
        result = real_stat(self, *args, **kwargs)
        if str(self).startswith(str(src)) and S_ISREG(result.st_mode):
            fields = list(result)
            fields[7] = fields[8] = fields[9] = stamp["seconds"]  # atime, mtime, ctime
            ns = stamp["seconds"] * 1_000_000_000
            return os.stat_result(tuple(fields), {"st_mtime_ns": ns, "st_ctime_ns": ns})
        return result

    monkeypatch.setattr(Path, "stat", coarse)
    first = load_source(src, size=16)
    write_image(src / "a" / "a (0).bmp", seed=99)  # same size, rewritten in place
    second = load_source(src, size=16)
    assert not np.array_equal(first.images, second.images)
    fresh = load_source(src, size=16, channels=1)
    assert np.array_equal(fresh.images[:, 0], second.images[:, 0])
    stamp["seconds"] -= 60  # files last changed a minute before the lookup: cached
    third = load_source(src, size=16)
    assert Path(third.info["cache"]).is_file() and np.array_equal(third.images, second.images)


def test_inspect_names_no_cache_entry_it_could_not_write(tmp_path, monkeypatch, capsys):
    make_tree(tmp_path / "src", {"a": 2, "b": 2})
    (tmp_path / "blocker").write_text("a file where the cache folder would go")
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "blocker" / "cache"))
    code = main(["data", "inspect", str(tmp_path / "src"), "--size", "16", "--json"])
    assert code in (0, None)
    assert json.loads(capsys.readouterr().out)["cache"] is None


def test_no_home_folder_means_no_cache_not_a_crash(tmp_path, monkeypatch):
    """`env -i` or a container's uid without a passwd entry: Path.home() raises."""

    def no_home(cls=None):
        raise RuntimeError("Could not determine home directory.")

    make_tree(tmp_path / "src", {"a": 2, "b": 2})
    monkeypatch.delenv("GAUNET_CACHE")
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setattr(Path, "home", classmethod(no_home))
    data = load_source(tmp_path / "src", size=16)
    assert len(data) == 4 and "cache" not in data.info


def test_a_window_given_as_integers_reuses_the_entry_of_the_same_window_as_floats(tmp_path):
    """`--window 100,50` parses to floats, Python callers pass (100, 50): one entry, not two
    that evict each other (one entry per source, size and channels)."""
    make_tree(tmp_path / "src", {"a": 2, "b": 2}, mode="I;16")
    first = load_source(tmp_path / "src", size=16, window=(100, 50))
    second = load_source(tmp_path / "src", size=16, window=(100.0, 50.0))
    assert second.info["cache"] == first.info["cache"]
