"""Reliability, round 2 (data layer): skipped files are never silent, symlinked sub-folders are
followed without loops, 12-bit data in 16-bit PNG/TIFF is not black, --window applies to it."""

from __future__ import annotations

import os

import numpy as np
import pytest
from data_helpers import make_tree, write_image
from PIL import Image
from train_helpers import tiny_train

from gaunet.cli import main
from gaunet.data import load_source, skip_summary


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def _tree_with_bad_files(root, bad=7):
    make_tree(root, {"a": 6, "b": 6})
    for k in range(bad):
        (root / "a" / f"broken {k}.png").write_bytes(b"")
    return root


def test_training_prints_the_skip_summary_and_writes_the_full_list(tmp_path, capsys):
    root = _tree_with_bad_files(tmp_path / "src")
    run = tiny_train(tmp_path / "run", steps=1, data=str(root), seed=0)
    err = capsys.readouterr().err
    assert "7 file(s) skipped in" in err and "broken 0.png: empty file (0 bytes)" in err
    assert "... and 2 more" in err and str(run / "skipped-files.txt") in err
    listed = (run / "skipped-files.txt").read_text().splitlines()
    assert len(listed) == 7 and all("empty file" in line for line in listed)


def test_skip_summary_without_folder_points_to_inspect(tmp_path):
    clean = load_source(make_tree(tmp_path / "clean", {"a": 2, "b": 2}), size=16)
    assert skip_summary(clean) is None
    data = load_source(_tree_with_bad_files(tmp_path / "src", bad=1), size=16)
    text = skip_summary(data)
    assert text.startswith("1 file(s) skipped") and "gaunet data inspect" in text


def test_a_list_from_an_earlier_run_goes_when_nothing_is_skipped(tmp_path):
    """A rerun into the same folder that skips nothing left the earlier skipped-files.txt, which
    then named files the run had not skipped."""
    out = tmp_path / "out"
    bad = load_source(_tree_with_bad_files(tmp_path / "src", bad=1), size=16)
    skip_summary(bad, out)
    assert (out / "skipped-files.txt").is_file()
    fixed = load_source(make_tree(tmp_path / "fixed", {"a": 2, "b": 2}), size=16)
    assert skip_summary(fixed, out) is None and not (out / "skipped-files.txt").exists()


def test_masks_beside_their_images_are_noted(tmp_path):
    """A raw BUSI download read as class folders: its `_mask` files are images of the class
    (each its own group, so a mask and its image may land in different splits). Still read,
    but every command's summary says so and what to do."""
    root = make_tree(tmp_path / "busi", {"benign": 3, "malignant": 3})
    write_image(root / "benign" / "benign (0)_mask.png", seed=50)
    write_image(root / "malignant" / "malignant (1)_MASK_1.png", seed=51)
    data = load_source(root, size=16)
    assert len(data) == 8
    assert "note: 2 image(s) in" in skip_summary(data) and "segmentation masks" in skip_summary(
        data
    )
    assert (
        skip_summary(load_source(make_tree(tmp_path / "plain", {"a": 2, "b": 2}), size=16)) is None
    )


def test_evaluate_prints_the_skip_summary(tmp_path, capsys):
    root = _tree_with_bad_files(tmp_path / "src", bad=2)
    out = tmp_path / "eval" / "result.json"
    args = ["evaluate", "--real", str(root), "--synthetic", str(root), "--split", "train"]
    fast = ["--size", "16", "--domain-steps", "2", "--domain-size", "16", "--kid-subsets", "2"]
    main([*args, "--features", "domain", "--json", str(out), *fast])
    err = capsys.readouterr().err
    assert err.count("2 file(s) skipped in") == 2
    assert len(list(out.parent.glob("*skipped-files-real.txt"))) == 1


def test_symlinked_sub_folder_is_followed_and_loops_are_guarded(tmp_path):
    root = make_tree(tmp_path / "src", {"a": 2, "b": 2})
    make_tree(tmp_path / "elsewhere", {"more": 3})
    os.symlink(tmp_path / "elsewhere" / "more", root / "a" / "linked")
    os.symlink(root / "a", root / "a" / "linked-loop")  # a link back up
    os.symlink(root / "b", root / "a" / "into-b")  # b's images would get label a too
    data = load_source(root, size=16)
    assert data.class_counts() == {"a": 5, "b": 2}
    reasons = sorted(p.path.rsplit("/", 1)[-1] for p in data.problems)
    assert reasons == ["into-b", "linked-loop"]
    assert all("link to a folder already read" in p.reason for p in data.problems)


def _twelve_bit(path, fmt):
    values = np.linspace(0, 4095, 32 * 32).reshape(32, 32).astype(np.uint16)
    Image.fromarray(values).save(path, format=fmt)
    return values


@pytest.mark.parametrize("suffix,fmt", [(".png", "PNG"), (".tif", "TIFF")])
def test_twelve_bit_data_in_16_bit_files_is_not_black(tmp_path, suffix, fmt):
    root = tmp_path / "src"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for k in range(2):
            _twelve_bit(root / cls / f"{k}{suffix}", fmt)
    data = load_source(root, size=32, channels=1)
    assert data.images.max() == 255 and data.images.min() == 0  # was 0..16 (scaled by 1/257)
    assert data.info["modes"] == {"I;16": 4}
    ((note, count),) = data.info["notes"].items()
    assert count == 4 and "uses only 0..4095 of 0..65535: scaled as 12-bit" in note
    assert "scaled as 12-bit" in skip_summary(data)
    # --window applies as for DICOM: center 1024, width 2048 shows 0..2048
    windowed = load_source(root, size=32, channels=1, window=(1024, 2048))
    assert windowed.images.max() == 255 and (windowed.images == 255).mean() > 0.4
    assert not np.array_equal(windowed.images, data.images)


def test_full_16_bit_range_keeps_its_scale_and_no_note(tmp_path):
    root = tmp_path / "src"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for k in range(2):
            values = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
            Image.fromarray(values).save(root / cls / f"{k}.png")
    data = load_source(root, size=32, channels=1)
    assert data.images.max() == 255 and "notes" not in data.info


def test_inspect_shows_the_note(tmp_path, capsys):
    root = tmp_path / "src"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for k in range(2):
            _twelve_bit(root / cls / f"{k}.png", "PNG")
    assert main(["data", "inspect", str(root), "--size", "16", "--window", "2048,4096"]) == 0
    assert "\nnote " not in capsys.readouterr().out  # a window replaces the depth rule
    assert main(["data", "inspect", str(root), "--size", "16"]) == 0
    assert "note     4 image(s): 16-bit image uses only 0..4095" in capsys.readouterr().out


def _peak_bytes(root) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        data = load_source(root, size=64)
        return tracemalloc.get_traced_memory()[1], data
    finally:
        tracemalloc.stop()


def test_large_png_is_reduced_before_any_full_size_copy(tmp_path, monkeypatch):
    """A 4200 x 4200 RGB PNG (a few KB on disk) used to make two full-size copies (Pillow's
    bytes and the numpy array, 53 MB each) besides Pillow's own decode; now it is box-reduced
    first. tracemalloc sees numpy and Python allocations, not Pillow's."""
    monkeypatch.setenv("GAUNET_NO_CACHE", "1")
    root = make_tree(tmp_path / "src", {"a": 2, "b": 2})
    Image.new("RGB", (4200, 4200), (40, 90, 160)).save(root / "a" / "huge.png")
    peak, data = _peak_bytes(root)
    assert len(data) == 5 and data.problems == []
    assert data.images[np.argmax(data.images[:, 2].mean((1, 2))), :, 10, 10].tolist() == [
        40, 90, 160,
    ]  # fmt: skip
    assert peak < 20e6, f"{peak / 1e6:.0f} MB traced"
    monkeypatch.setattr("gaunet.data.readers.image.REDUCE_ABOVE", 10**9)
    assert _peak_bytes(root)[0] > 100e6  # what it was without the reduction


def test_sixteen_bit_images_of_one_source_share_one_scale(tmp_path):
    """A 14-bit set where one image stays under 4096: the same stored value must give the same
    pixel in every image (scaled by its own depth, 4000 gave 249 there and 62 elsewhere)."""
    root = tmp_path / "src"
    for cls, top in (("a", 4000), ("b", 5000)):
        (root / cls).mkdir(parents=True)
        for k in range(2):
            values = np.full((32, 32), 4000, np.uint16)
            values[:, 16:] = top if k == 0 else 1000
            Image.fromarray(values).save(root / cls / f"{k}.png")
    data = load_source(root, size=32, channels=1)
    assert {int(v) for v in data.images[:, 0, :, :16].reshape(-1)} == {62}  # 4000 of 16383
    assert "notes" not in data.info  # 14 bits: most of the range, no note
