"""PA, class fidelity: how often the domain classifier assigns a synthetic image to the class
it was generated for.

Our reading of the paper's "PA": the paper cites pix2pix's FCN-score, which runs an
off-the-shelf network trained on real data over generated images and reports its accuracy
against the intended labels. Here that network is the domain classifier trained on the real
training split only (gaunet.metrics.features.domain). The same classifier's accuracy on real
held-out images is reported beside it, since PA means little without that ceiling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gaunet.metrics.bootstrap import bootstrap_mean_ci

if TYPE_CHECKING:
    from gaunet.metrics.inputs import MetricInputs


def two_class_reason(class_names: list[str]) -> str | None:
    """Why class fidelity cannot be measured on these real classes, or None when it can: with
    one class there is nothing to tell apart, so a classifier trained on it is right on every
    image whatever it looks like (PA 1.000 by construction, said to be "at or below chance")."""
    if len(class_names) >= 2:
        return None
    shown = ", ".join(repr(name) for name in class_names) or "none"
    return (
        f"not applicable: the real set has {len(class_names)} class ({shown}), and the domain "
        "classifier needs two or more to tell apart; so no PA, per-class PA, FD_domain, domain "
        "precision/recall or domain copy rate"
    )


def class_fidelity(
    probabilities: np.ndarray,
    intended: np.ndarray,
    class_names: list[str],
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy of argmax(probabilities) against the intended labels, overall and per class."""
    predicted = np.asarray(probabilities).argmax(1)
    intended = np.asarray(intended)
    correct = (predicted == intended).astype(np.float64)
    confusion = np.zeros((len(class_names), len(class_names)), dtype=np.int64)
    np.add.at(confusion, (intended, predicted), 1)
    per_class = {}
    for index, name in enumerate(class_names):
        mask = intended == index
        if mask.any():
            per_class[name] = {
                "value": float(correct[mask].mean()),
                "ci95": bootstrap_mean_ci(correct[mask], resamples, seed),
                "n": int(mask.sum()),
            }
    return {
        "value": float(correct.mean()) if len(correct) else float("nan"),
        "ci95": bootstrap_mean_ci(correct, resamples, seed),
        "n": int(len(correct)),
        "per_class": per_class,
        "confusion": {"rows_intended_cols_predicted": confusion.tolist(), "classes": class_names},
    }


def pa_entry(inputs: MetricInputs) -> dict[str, Any]:
    """The `PA` entry: class fidelity of the synthetic set, and beside it the same classifier's
    accuracy on the real reference split (the ceiling PA is read against)."""
    classifier = inputs.extractor("domain")
    names = inputs.class_names
    synthetic = classifier.predict_proba(inputs.synthetic.images)
    entry = class_fidelity(synthetic, inputs.synthetic_labels, names, seed=inputs.seed)
    reference = classifier.predict_proba(inputs.reference.images)
    entry["real_reference_accuracy"] = class_fidelity(
        reference, inputs.reference.labels, names, seed=inputs.seed
    )
    return entry


def domain_classifier_entry(inputs: MetricInputs) -> dict[str, Any]:
    """The `domain_classifier` entry: its real test accuracy against a trivial baseline, i.e. how
    far FD_domain, PA and the domain copy audit can be trusted."""
    from gaunet.metrics.domain_trust import domain_classifier_check

    test = inputs.test
    correct = inputs.extractor("domain").predict_proba(test.images).argmax(1) == test.labels
    return domain_classifier_check(
        float(correct.mean()), test.class_counts(), len(inputs.class_names)
    )
