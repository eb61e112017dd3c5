"""Keeping the generated images a classifier is surest of: `gaunet generate --filter-pool K`
and `gaunet benchmark --filter-pool K` draw K x the images wanted per class, score them with the
small domain CNN trained on the generator's own training images (nothing else: no test or
validation image decides what is kept), and keep the most confident of each class. On
BreastMNIST it made a 5,000-epoch generator's images alone beat plain copies of the real
images, not on top of classic augmentation (docs/augmentation.md, "Filtering the 5,000-epoch
images")."""

from __future__ import annotations

from typing import Any

import numpy as np

from gaunet.data.imageset import ImageSet
from gaunet.errors import GaunetError


def check_filter_pool(filter_pool: int, max_copy_rate: float | None = None) -> None:
    """Refuse a pool that is not a whole number >= 1, and a near-copy allowance the filter
    would break: the images a classifier is surest of are the likeliest near-copies, so of a
    pool with R near-copies allowed the kept share could reach K x R."""
    if isinstance(filter_pool, bool) or not isinstance(filter_pool, int) or filter_pool < 1:
        raise GaunetError(f"--filter-pool {filter_pool!r}: use a whole number, 1 (off) or more")
    if filter_pool > 1 and max_copy_rate not in (None, 0, 0.0):
        raise GaunetError(
            f"--filter-pool {filter_pool} with --max-copy-rate {max_copy_rate:g}: the filter "
            "keeps the images a classifier is surest of, and near-copies of training images are "
            "the likeliest, so the rate could not hold. Use --max-copy-rate 0 (drop every "
            "near-copy first) or no --max-copy-rate"
        )


def keep_most_confident(
    probabilities: np.ndarray, labels: np.ndarray, wanted: np.ndarray
) -> np.ndarray:
    """Indices of the `wanted[c]` candidates of each class c with the highest p(c), in order."""
    confidence = probabilities[np.arange(len(labels)), labels]
    kept = []
    for c, n in enumerate(wanted):
        rows = np.flatnonzero(labels == c)
        best = rows[np.argsort(-confidence[rows], kind="stable")[:n]]
        kept.append(np.sort(best))
    return np.concatenate(kept) if kept else np.zeros(0, np.int64)


def filter_by_confidence(
    train: ImageSet,
    images: np.ndarray,
    labels: np.ndarray,
    wanted: np.ndarray,
    device: str = "cpu",
) -> tuple[np.ndarray, dict[str, Any]]:
    """The indices of `images` (uint8 NCHW, labelled `labels`) to keep, `wanted[c]` per class,
    and their report (`confidence_report`, with the scorer's description)."""
    from gaunet.metrics.features.domain import DomainExtractor

    scorer = DomainExtractor.for_training_set(train, device=device)
    kept, report = choose(scorer.predict_proba(images), labels, wanted, train.class_names)
    return kept, {**report, "scorer": scorer.describe()}


def choose(
    probabilities: np.ndarray, labels: np.ndarray, wanted: np.ndarray, class_names: list[str]
) -> tuple[np.ndarray, dict[str, Any]]:
    """Given a scorer's class probabilities: the kept indices and their confidence report."""
    kept = keep_most_confident(probabilities, labels, wanted)
    return kept, confidence_report(probabilities, labels, kept, class_names)


def confidence_report(
    probabilities: np.ndarray, labels: np.ndarray, kept: np.ndarray, class_names: list[str]
) -> dict[str, Any]:
    """filter.json: the candidates, the kept count and the mean confidence in the intended
    class over all candidates and over the kept ones, in all and per class."""
    confidence = probabilities[np.arange(len(labels)), labels]
    chosen = np.zeros(len(labels), bool)
    chosen[kept] = True

    def summary(rows: np.ndarray) -> dict[str, Any]:
        both = rows & chosen
        return {
            "candidates": int(rows.sum()),
            "kept": int(both.sum()),
            "mean_confidence_all": float(confidence[rows].mean()) if rows.any() else None,
            "mean_confidence_kept": float(confidence[both].mean()) if both.any() else None,
        }

    per_class = {
        name: summary(labels == c) for c, name in enumerate(class_names) if (labels == c).any()
    }
    return {**summary(np.ones(len(labels), bool)), "per_class": per_class}
