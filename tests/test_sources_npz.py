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


def _labelled(path, labels, images=None):
    labels = np.asarray(labels, dtype=np.int64)
    if images is None:
        images = np.zeros((len(labels), 8, 8), np.uint8)
    np.savez(path, train_images=images, train_labels=labels[:, None])
    return path


@pytest.mark.parametrize(
    ("name", "labels", "message"),
    [
        ("mystery.npz", [0, 1, 7] + [0] * 9, r"classes 2, 3, 4, 5, 6 have no image"),
        ("mystery.npz", [0, 1, 2**40, 0], r"label 1099511627776 found among 4 images"),
        ("mystery.npz", [0, 1, 10**6, 0], r"label 1000000 found among 4 images"),
        ("breastmnist.npz", [0, 1, 7, 0], r"label 7 found, but breastmnist has 2 classes"),
    ],
)
def test_labels_are_checked_against_the_classes_first(tmp_path, name, labels, message):
    """A huge label used to size a class list (MemoryError, or minutes for 10**6); a label 7 in
    a 2-class set made 6 empty classes. Now one line naming the file, at once."""
    import time

    start = time.perf_counter()
    with pytest.raises(SourceError, match=message) as caught:
        load_source(_labelled(tmp_path / name, labels), size=8)
    assert str(tmp_path / name) in str(caught.value) and "\n" not in str(caught.value)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("channels", [2, 7])
def test_unusual_channel_counts_are_a_clear_error(tmp_path, channels):
    images = np.zeros((4, 8, 8, channels), np.uint8)
    path = _labelled(tmp_path / "seven.npz", [0, 1, 0, 1], images)
    with pytest.raises(SourceError, match=rf"{channels} channels per pixel .*1 \(grey\), 3"):
        load_source(path, size=8)


def test_single_channel_last_axis_is_grey(tmp_path):
    images = np.arange(4 * 8 * 8, dtype=np.uint8).reshape(4, 8, 8, 1)
    data = load_source(_labelled(tmp_path / "grey.npz", [0, 1, 0, 1], images), 8, 1)
    assert np.array_equal(data.images[:, 0], images[..., 0]) and data.info["modes"] == {"L": 4}


def _run_archive(path, channels):
    """A run's train_images.npz as `gaunet train` writes it (save_train_images)."""
    from gaunet.training.run_folder import save_train_images

    data = load_source("phantom:n=12,classes=2", size=12, channels=channels)
    save_train_images(path, data.subset(np.arange(6)))
    return data.subset(np.arange(6))


@pytest.mark.parametrize("channels", [1, 3])
def test_a_runs_training_images_read_as_one_train_split(tmp_path, channels):
    """The real images a generator trained on, as a source: what evaluate compares a
    generator's numbers with (the same count of real images)."""
    kept = _run_archive(tmp_path / "train_images.npz", channels)
    data = load_source(tmp_path / "train_images.npz", size=12, channels=channels)
    assert np.array_equal(data.images, kept.images)  # native size: the pixels as trained on
    assert list(data.labels) == list(kept.labels) and data.class_names == kept.class_names
    assert list(data.ids) == list(kept.ids) and set(data.split) == {"train"}
    assert load_source(tmp_path / "train_images.npz", size=20, channels=1).images.shape == (
        6, 1, 20, 20
    )  # fmt: skip


def test_a_damaged_run_archive_names_the_file_and_the_problem(tmp_path):
    _run_archive(tmp_path / "train_images.npz", 1)
    with np.load(tmp_path / "train_images.npz") as archive:
        arrays = dict(archive)
    arrays["labels"] = arrays["labels"] + 5
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(SourceError, match=r"bad.npz: labels outside 0..1"):
        load_source(tmp_path / "bad.npz", size=12)
    del arrays["ids"]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(SourceError, match=r"bad.npz: no train_images.*ids and groups"):
        load_source(tmp_path / "bad.npz", size=12)


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"label,path\n0,a.png\n", "not a zip archive"),
        (None, "a single .npy array"),
    ],
)
def test_a_file_that_is_not_a_zip_of_arrays_says_what_it_is(tmp_path, content, kind):
    """numpy's message for such a file ended "you can load it unsafely using allow_pickle":
    advice a user should never take from gaunet."""
    path = tmp_path / "data.npz"
    if content is None:
        with open(path, "wb") as handle:
            np.save(handle, np.zeros((2, 8, 8), np.uint8))
    else:
        path.write_bytes(content)
    with pytest.raises(SourceError, match=f"data.npz: not a .npz archive \\({kind}") as error:
        load_source(path, size=8)
    assert "allow_pickle" not in str(error.value) and "unsafely" not in str(error.value)


@pytest.mark.parametrize(
    "names, expected",
    [(np.array(["benign", "malignant", "normal"]), ["benign", "malignant", "normal"]),
     (np.array([0, 1]), "class_names must be a list of names")],
)  # fmt: skip
def test_class_names_carried_in_the_archive(tmp_path, names, expected):
    """A MedMNIST-layout archive may carry its class names (`gaunet generate --format npz`);
    a class without images is then allowed, as for MedMNIST's own sets."""
    images = np.zeros((4, 8, 8), np.uint8)
    path = tmp_path / "mine.npz"
    np.savez(
        path, train_images=images, train_labels=np.array([[0], [0], [2], [2]]), class_names=names
    )
    if isinstance(expected, str):
        with pytest.raises(SourceError, match=expected):
            load_source(path, size=8, channels=1)
    else:
        data = load_source(path, size=8, channels=1)
        assert data.class_names == expected and data.class_counts()["malignant"] == 0


def test_rgba_alpha_does_not_set_the_archive_scale(tmp_path):
    """A 12-bit RGBA archive with opaque 16-bit alpha reads as its RGB part would (4000 -> 249)."""
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 4001, (4, 12, 12, 3)).astype(np.uint16)
    colour[0, 0, 0] = 4000
    alpha = np.full((4, 12, 12, 1), 65535, dtype=np.uint16)
    labels = np.array([[0], [1], [0], [1]])
    np.savez(tmp_path / "rgba.npz", train_images=np.concatenate([colour, alpha], 3),
             train_labels=labels)  # fmt: skip
    np.savez(tmp_path / "rgb.npz", train_images=colour, train_labels=labels)
    with_alpha = load_source(tmp_path / "rgba.npz", 12, 3)
    without = load_source(tmp_path / "rgb.npz", 12, 3)
    assert np.array_equal(with_alpha.images, without.images)
    assert with_alpha.images.max() == 249
