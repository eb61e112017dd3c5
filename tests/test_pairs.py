"""PairSampler: same class always, two different images, balancing, seeded streams."""

from __future__ import annotations

import numpy as np
import pytest

from gaunet.data.pairs import PairSampler

LABELS = np.asarray([0] * 40 + [1] * 5 + [2] * 2 + [3] * 1)


def test_never_pairs_across_classes_and_never_self():
    sampler = PairSampler(LABELS, seed=0)
    for _ in range(50):
        i, j, cls = sampler.sample(64)
        assert np.all(LABELS[i] == cls) and np.all(LABELS[j] == cls)
        assert np.all(i != j)


def test_singleton_class_is_never_drawn():
    i, _, cls = PairSampler(LABELS, seed=1).sample(2000)
    assert 3 not in set(cls) and not np.any(LABELS[i] == 3)


def test_balance_versus_proportional():
    balanced = PairSampler(LABELS, seed=0, balance=True).sample(6000)[2]
    natural = PairSampler(LABELS, seed=0, balance=False).sample(6000)[2]
    assert np.mean(balanced == 0) == pytest.approx(1 / 3, abs=0.03)
    assert np.mean(natural == 0) == pytest.approx(40 / 47, abs=0.03)


def test_seeded_and_rank_streams():
    a = PairSampler(LABELS, seed=4).sample(32)
    b = PairSampler(LABELS, seed=4).sample(32)
    other_rank = PairSampler(LABELS, seed=4, rank=1, world_size=2).sample(32)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], other_rank[0])


def test_state_dict_resumes_the_stream():
    sampler = PairSampler(LABELS, seed=9)
    sampler.sample(8)
    state = sampler.state_dict()
    expected = sampler.sample(8)
    resumed = PairSampler(LABELS, seed=0)
    resumed.load_state_dict(state)
    assert all(np.array_equal(x, y) for x, y in zip(expected, resumed.sample(8)))


def test_no_pairable_class_is_an_error():
    with pytest.raises(ValueError, match="no class has two images"):
        PairSampler(np.asarray([0, 1, 2]))
