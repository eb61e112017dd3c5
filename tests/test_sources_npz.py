"""MedMNIST-style .npz: official split, known class names, shapes, rejected layouts."""

from __future__ import annotations

import numpy as np
import pytest

from gaunet.data import SourceError, load_source


def _write(path, labels_per_split, rgb=False, label_columns=1):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, labels in labels_per_split.items():
        shape = (len(labels), 28, 28, 3) if rgb else (len(labels), 28, 28)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = np.repeat(np.asarray(labels)[:, None], label_columns, 1)
    np.savez(path, **arrays)
    return path


def test_official_split_and_breastmnist_names(tmp_path):
    path = _write(
        tmp_path / "breastmnist.npz", {"train": [0, 1, 1, 0], "val": [1, 0], "test": [0, 1, 1]}
    )
    data = load_source(path, size=32)
    assert data.class_names == ["malignant", "normal+benign"]
    assert list(data.split) == ["train"] * 4 + ["val"] * 2 + ["test"] * 3
    assert data.images.shape == (9, 3, 32, 32)
    assert list(data.labels) == [0, 1, 1, 0, 1, 0, 0, 1, 1]
    assert len(set(data.ids)) == 9


@pytest.mark.parametrize(
    ("name", "first", "count"),
    [("pneumoniamnist_64.npz", "normal", 2), ("octmnist.npz", "choroidal neovascularization", 4),
     ("mystery.npz", "0", 2)],
)  # fmt: skip
def test_class_names_by_file_name(tmp_path, name, first, count):
    """A known set names all its classes, even those absent from this file."""
    data = load_source(_write(tmp_path / name, {"train": [0, 1, 0, 1]}), size=8)
    assert data.class_names[0] == first and len(data.class_names) == count


def test_rgb_npz_one_channel(tmp_path):
    data = load_source(_write(tmp_path / "d.npz", {"train": [0, 1]}, rgb=True), 8, channels=1)
    assert data.images.shape == (2, 1, 8, 8)


def test_original_pixels_survive_at_native_size(tmp_path):
    path = _write(tmp_path / "d.npz", {"train": [0, 1], "test": [1]})
    data = load_source(path, size=28, channels=1)
    assert np.array_equal(data.images[2, 0], np.load(path)["test_images"][0])


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((2, 8, 8), np.uint8)}, "no train_images"),
        ({"train_images": np.zeros((2, 8, 8), np.uint8)}, "no train_labels"),
        (
            {"train_images": np.zeros((2, 8, 8), np.uint8), "train_labels": np.zeros((2, 3))},
            "multi-label",
        ),
        (
            {"train_images": np.zeros((2, 8, 8), np.uint8), "train_labels": np.zeros((3, 1))},
            "for 2 images",
        ),
    ],
)
def test_bad_layouts_are_clear_errors(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(SourceError, match=message):
        load_source(tmp_path / "bad.npz", size=8)
