"""The near-copy filter of `gaunet generate --max-copy-rate` decides each image the same way
whatever the batch it arrives in and whatever the working folder."""

from __future__ import annotations

import numpy as np
from data_helpers import make_tree
from train_helpers import tiny_train

from gaunet.metrics.memorization import nearest, pixel_features
from gaunet.privacy import CopyFilter
from gaunet.trained_generator import held_out_images, load_generator


def test_a_near_copy_verdict_does_not_depend_on_the_batch_it_is_in() -> None:
    """A BLAS product's rounding depends on its row count: with the threshold exactly at an
    image's own distance, the batch it came in (the --batch-size) must not flip its verdict."""
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (300, 1, 32, 32), dtype=np.uint8)
    batch = rng.integers(0, 256, (64, 1, 32, 32), dtype=np.uint8)
    copy_filter = CopyFilter(train=train, max_rate=0.0)
    features = pixel_features(batch)
    for i in range(len(batch)):
        alone = nearest(copy_filter.train_features, features[i : i + 1])[0][0]
        copy_filter.threshold = float(np.nextafter(alone, np.inf))  # just above: a near-copy
        in_batch = copy_filter.near_copies(batch)
        assert in_batch[i] == copy_filter.near_copies(batch[i : i + 1])[0], i
        for n in (1, 3, 8):
            start = i - i % n
            assert copy_filter.near_copies(batch[start : start + n])[i - start] == in_batch[i]


def test_the_held_out_images_are_found_from_another_working_folder(tmp_path, monkeypatch):
    """A run trained on a relative --data: its test split (the copy threshold's reference) is
    read back from the absolute path the run recorded, not --data resolved against the folder
    `gaunet generate` runs in (which found nothing, or another file)."""
    make_tree(tmp_path / "work/data", {"a": 12, "b": 12})
    monkeypatch.chdir(tmp_path / "work")
    run = tiny_train(tmp_path / "run", steps=1, data="data")
    here, _ = held_out_images(load_generator(run, device="cpu"))
    assert here is not None
    (tmp_path / "elsewhere/data").mkdir(parents=True)  # a `data` folder with no images
    monkeypatch.chdir(tmp_path / "elsewhere")
    there, note = held_out_images(load_generator(run, device="cpu"))
    assert there is not None, note
    assert np.array_equal(here, there)
