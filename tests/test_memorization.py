"""Copy rate: about 1 when the synthetic set is the training set, about 0.05 (the threshold's
own percentile) for independent real images; the closest-pairs PNG shows the copies."""

import io

import numpy as np
import pytest
from PIL import Image

from gaunet.data.phantom import make_phantom
from gaunet.metrics.memorization import copy_audit, nearest, pairs_png, pixel_features


@pytest.fixture(scope="module")
def sets():
    train, train_labels, names, _ = make_phantom(60, 2, size=32, seed=0)
    test, *_ = make_phantom(40, 2, size=32, seed=1)
    fresh, fresh_labels, *_ = make_phantom(40, 2, size=32, seed=2)
    return train[:, None], train_labels, test[:, None], fresh[:, None], fresh_labels, names


def test_training_set_as_synthetic_is_all_copies(sets):
    train, labels, test, _, _, names = sets
    audit = copy_audit(
        pixel_features(train), pixel_features(test), pixel_features(train), labels, names
    )
    assert audit["copy_rate"] > 0.95
    assert audit["synthetic_to_train"]["min"] == pytest.approx(0.0, abs=1e-6)
    assert all(p["distance"] == pytest.approx(0.0, abs=1e-6) for p in audit["closest_pairs"])
    assert len(audit["closest_pairs"]) == 16
    assert set(audit["per_class"]) == set(names)


def test_independent_real_images_are_rarely_copies(sets):
    train, _, test, fresh, fresh_labels, names = sets
    audit = copy_audit(
        pixel_features(train), pixel_features(test), pixel_features(fresh), fresh_labels, names
    )
    assert audit["copy_rate"] < 0.2
    assert audit["threshold"] > 0
    assert audit["n_synthetic"] == len(fresh) and audit["n_train"] == len(train)


def test_nearest_matches_brute_force():
    rng = np.random.default_rng(0)
    reference, queries = rng.normal(size=(30, 5)), rng.normal(size=(17, 5))
    distance, index = nearest(reference, queries, chunk=4)
    full = np.sqrt(((queries[:, None] - reference[None]) ** 2).sum(-1))
    np.testing.assert_array_equal(index, full.argmin(1))
    np.testing.assert_allclose(distance, full.min(1), atol=1e-9)


def test_pairs_png_is_a_decodable_image(sets):
    train, labels, test, *_, names = sets
    audit = copy_audit(pixel_features(train), pixel_features(test), pixel_features(train[:20]))
    png = pairs_png(train[:20], train, audit["closest_pairs"], title="copies")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size[0] > image.size[1] > 100


@pytest.mark.parametrize("max_images", [None, 8])
def test_capped_evaluation_still_finds_every_copy(max_images):
    """--max-images caps the sets compared, not the training images the audit searches: a
    sample of them would miss the copies of every image left out."""
    from gaunet.data import assign_split, load_source
    from gaunet.metrics.evaluate import evaluate

    real = assign_split(load_source("phantom:n=40,classes=2,seed=0", size=16, channels=1), seed=0)
    copies = real.where_split("train")
    assert len(copies) > 3 * 8
    result = evaluate(real, copies, features=(), max_images=max_images)
    audit = result["memorization"]["pixel"]
    assert audit["n_train"] == len(copies)
    assert audit["n_synthetic"] == (max_images or len(copies))
    assert audit["copy_rate"] == 1.0
