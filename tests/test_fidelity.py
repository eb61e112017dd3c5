"""PA: accuracy of the domain classifier against the intended classes, per class and overall."""

import numpy as np
import pytest

from gaunet.metrics.fidelity import class_fidelity


def one_hot(labels, classes):
    return np.eye(classes)[labels]


def test_counts_agreements_per_class_and_overall():
    intended = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    predicted = np.array([0, 0, 0, 1, 1, 0, 2, 2, 2, 2])
    result = class_fidelity(one_hot(predicted, 3), intended, ["a", "b", "c"])
    assert result["value"] == pytest.approx(0.8)
    assert result["n"] == 10
    assert result["per_class"]["a"]["value"] == pytest.approx(0.75)
    assert result["per_class"]["b"]["value"] == pytest.approx(0.5)
    assert result["per_class"]["c"]["value"] == pytest.approx(1.0)
    confusion = np.array(result["confusion"]["rows_intended_cols_predicted"])
    assert confusion[0, 1] == 1 and confusion[1, 0] == 1 and confusion.sum() == 10


def test_absent_class_is_left_out_and_ci_brackets_value():
    rng = np.random.default_rng(0)
    intended = rng.integers(0, 2, 200)
    probabilities = rng.random((200, 3))
    result = class_fidelity(probabilities, intended, ["a", "b", "never"])
    assert "never" not in result["per_class"]
    low, high = result["ci95"]
    assert low < result["value"] < high
    assert high - low < 0.2
