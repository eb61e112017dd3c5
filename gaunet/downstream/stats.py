"""Numbers for the W vs W/O tables: classification metrics, t-intervals, paired differences.

Seeds are the unit of replication: a metric is averaged over seeds with a Student-t interval,
and a gain is the per-seed difference W - W/O (same seed: same subset, same initialisation),
tested with a paired t-test.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as scipy_stats
from scipy.optimize import brentq
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

METRICS = ("accuracy", "precision", "recall", "auc")


def auc_score(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Binary: AUC of the positive class (column 1). Multi-class: macro one-vs-rest AUC.

    NaN when a class is missing from `labels`, since the AUC is then undefined.
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    num_classes = probabilities.shape[1]
    if len(np.unique(labels)) < num_classes:
        return float("nan")
    if num_classes == 2:
        return float(roc_auc_score(labels, probabilities[:, 1]))
    return float(
        roc_auc_score(
            labels, probabilities, multi_class="ovr", average="macro", labels=range(num_classes)
        )
    )


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy, macro precision, macro recall and AUC from class probabilities (N, K).

    The macro means run over the classes the test labels have or the predictions name (as
    scikit-learn's own default): a class with no test image that is never predicted either has
    no precision or recall to average, and counting it as 0 would lower both by 1/K."""
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities)
    predicted = probabilities.argmax(1)
    classes = np.union1d(labels, predicted).tolist()
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(
            precision_score(labels, predicted, labels=classes, average="macro", zero_division=0)
        ),
        "recall": float(
            recall_score(labels, predicted, labels=classes, average="macro", zero_division=0)
        ),
        "auc": auc_score(labels, probabilities),
    }


def t_interval(values: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """Mean and two-sided Student-t interval over seeds; one value gives an infinite-free NaN CI."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    n = len(values)
    mean = float(values.mean()) if n else float("nan")
    if n < 2:
        return {
            "mean": mean,
            "low": float("nan"),
            "high": float("nan"),
            "half": float("nan"),
            "n": n,
        }
    sem = float(values.std(ddof=1)) / math.sqrt(n)
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * sem
    return {"mean": mean, "low": mean - half, "high": mean + half, "half": half, "n": n}


def paired_difference(
    with_values: np.ndarray, without_values: np.ndarray, confidence: float = 0.95
) -> dict[str, float]:
    """W - W/O per seed: mean, t-interval, paired t-test p-value and n (pairs with both values)."""
    w = np.asarray(with_values, dtype=np.float64)
    wo = np.asarray(without_values, dtype=np.float64)
    if w.shape != wo.shape:
        raise ValueError("paired values must have the same length (one per seed)")
    keep = ~(np.isnan(w) | np.isnan(wo))
    difference = w[keep] - wo[keep]
    result = t_interval(difference, confidence)
    if result["n"] < 2 or np.allclose(difference, difference[0]):
        # no spread over seeds (n < 2, or a deterministic classifier such as the SVM on the
        # same images): the seeds are not independent replicates, so neither a p-value nor an
        # interval is claimed (a zero-width interval would read as a certain gain)
        nan = float("nan")
        result.update(p=nan, low=nan, high=nan, half=nan, mde=nan)
        return result
    result["p"] = float(scipy_stats.ttest_rel(w[keep], wo[keep]).pvalue)
    result["mde"] = detectable_gain(difference, confidence)
    return result


def detectable_gain(differences: np.ndarray, confidence: float = 0.95, power: float = 0.8) -> float:
    """Smallest true mean gain this many paired seeds detect with `power` at the two-sided
    `confidence` level, given the observed spread: the shift d at which the paired t-test's
    power, from the noncentral t with noncentrality d * sqrt(n) / sd, reaches `power`.
    Gains below it can be real and still come out "not significant". Exact rather than the
    textbook (t_{1-a/2} + t_{power}) * sd / sqrt(n), which understates it by 16 % at n = 2
    and 5 % at n = 3, the subset counts `gaunet pool` sees."""
    differences = np.asarray(differences, dtype=np.float64)
    n = len(differences)
    if n < 2:
        return float("nan")
    df = n - 1
    critical = float(scipy_stats.t.ppf(0.5 + confidence / 2, df))
    approximate = critical + float(scipy_stats.t.ppf(power, df))

    def shortfall(noncentrality: float) -> float:
        # both rejection tails; the far one as sf at -noncentrality (nct.cdf there gives NaN)
        near = scipy_stats.nct.sf(critical, df, noncentrality)
        return float(near + scipy_stats.nct.sf(critical, df, -noncentrality)) - power

    noncentrality = brentq(shortfall, 0.5 * approximate, 4.0 * approximate, xtol=1e-10)
    return float(noncentrality * differences.std(ddof=1) / math.sqrt(n))
