"""A cell's test metrics: macro precision and recall over the classes that exist in the test
split or the predictions, AUC as scikit-learn computes it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from gaunet.downstream.stats import classification_metrics


def test_a_class_absent_from_test_and_never_predicted_does_not_count_as_zero() -> None:
    # 3 classes, the test split has only classes 0 and 1, every image right
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1]])
    metrics = classification_metrics(labels, probabilities)
    # before: 2/3 each (class 2's undefined precision and recall averaged in as 0)
    assert metrics["accuracy"] == 1.0
    assert metrics["precision"] == 1.0 and metrics["recall"] == 1.0
    assert np.isnan(metrics["auc"])


def test_a_class_never_predicted_still_counts_with_precision_and_recall_0() -> None:
    labels = np.array([0, 1, 2, 2, 1, 0])
    probabilities = np.array(
        [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.3, 0.6, 0.1], [0.1, 0.8, 0.1],
         [0.7, 0.2, 0.1]]
    )  # fmt: skip
    metrics = classification_metrics(labels, probabilities)
    predicted = probabilities.argmax(1)
    assert 2 not in predicted
    for name, score in (("precision", precision_score), ("recall", recall_score)):
        expected = score(labels, predicted, average="macro", zero_division=0)
        assert metrics[name] == pytest.approx(expected)
    assert metrics["recall"] == pytest.approx((1 + 1 + 0) / 3)
    expected_auc = roc_auc_score(labels, probabilities, multi_class="ovr", average="macro")
    assert metrics["auc"] == pytest.approx(expected_auc)


@pytest.mark.parametrize("classes", [2, 3, 5])
def test_metrics_match_scikit_learn_on_random_predictions(classes: int) -> None:
    rng = np.random.default_rng(classes)
    for _ in range(20):
        labels = np.concatenate([np.arange(classes), rng.integers(0, classes, 20)])
        logits = rng.normal(size=(len(labels), classes)).astype(np.float32)
        logits[:, -1] -= 8  # the last class is (almost) never predicted
        probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        metrics = classification_metrics(labels, probabilities)
        predicted = probabilities.argmax(1)
        auc = (
            roc_auc_score(labels, probabilities[:, 1])
            if classes == 2
            else roc_auc_score(labels, probabilities, multi_class="ovr", average="macro")
        )
        assert metrics["auc"] == pytest.approx(auc)
        assert metrics["precision"] == pytest.approx(
            precision_score(labels, predicted, average="macro", zero_division=0)
        )
        assert metrics["recall"] == pytest.approx(
            recall_score(labels, predicted, average="macro", zero_division=0)
        )
