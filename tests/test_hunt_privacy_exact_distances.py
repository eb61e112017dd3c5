"""The copy audit's distances must not depend on BLAS rounding: not on how many synthetic
images share a product (nor on the CPU), and an exact copy is at distance 0."""

from __future__ import annotations

import numpy as np

from gaunet.metrics.memorization import copy_audit, leave_one_out, nearest


def test_an_image_at_exactly_the_threshold_is_judged_alike_in_any_batch() -> None:
    """Synthetic = the real test images (a sanity check): one of them sits exactly at the
    5th percentile (21 test images). Whether it counted as a copy used to depend on how many
    other synthetic images were in its BLAS product."""
    verdicts = set()
    for seed in range(10):
        rng = np.random.default_rng(seed)
        train = rng.random((200, 1024)).astype(np.float32) / 32
        test = rng.random((21, 1024)).astype(np.float32) / 32
        threshold = copy_audit(train, test, test)["threshold"]
        at = test[np.argsort(nearest(train, test)[0])[1]][None]
        for others in (1, 2, 3, 5, 8, 13, 100):
            batch = np.concatenate([rng.random((others, 1024)).astype(np.float32) / 32, at])
            verdicts.add(bool(nearest(train, batch)[0][-1] < threshold))
    assert verdicts == {False}


def test_exact_copies_are_at_distance_zero_in_a_wide_feature_space() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(3, 2, (50, 2048))
    distance, index = nearest(train, train[::-1])
    assert (distance == 0).all()
    assert (index == np.arange(50)[::-1]).all()
    twins = np.concatenate([train, train[:10]])
    assert (leave_one_out(twins)[:10] == 0).all()
    assert (leave_one_out(twins)[10:50] > 0).all()


def test_nearest_picks_the_truly_nearest_of_near_ties() -> None:
    """Two training rows within BLAS rounding of each other's distance: the exact distance
    decides, lowest index on an exact tie, whatever the batch."""
    rng = np.random.default_rng(1)
    train = rng.normal(3, 2, (30, 2048))
    queries = train[:5] + 1e-9
    alone = [nearest(train, queries[i : i + 1]) for i in range(5)]
    together = nearest(train, np.concatenate([queries, rng.normal(3, 2, (40, 2048))]))
    for i, (distance, index) in enumerate(alone):
        assert index[0] == i == together[1][i]
        assert distance[0] == together[0][i]


def test_equidistant_training_images_go_to_the_lowest_index() -> None:
    train = np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]])
    distance, index = nearest(train, np.zeros((3, 2)))
    assert (index == 0).all() and (distance == 2.0).all()
