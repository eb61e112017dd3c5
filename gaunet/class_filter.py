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
    and a report: per class the candidates, the kept count and the mean confidence in the
    intended class over all candidates and over the kept ones (filter.json)."""
    from gaunet.metrics.features.domain import DomainExtractor

    scorer = DomainExtractor.for_training_set(train, device=device)
    probabilities = scorer.predict_proba(images)
    kept = keep_most_confident(probabilities, labels, wanted)
    confidence = probabilities[np.arange(len(labels)), labels]
    chosen = np.zeros(len(labels), bool)
    chosen[kept] = True
    per_class = {}
    for c, name in enumerate(train.class_names):
        rows = labels == c
        if not rows.any():
            continue
        per_class[name] = {
            "candidates": int(rows.sum()),
            "kept": int((rows & chosen).sum()),
            "mean_confidence_all": float(confidence[rows].mean()),
            "mean_confidence_kept": float(confidence[rows & chosen].mean())
            if (rows & chosen).any()
            else None,
        }
    report = {
        "candidates": len(labels),
        "kept": len(kept),
        "mean_confidence_all": float(confidence.mean()) if len(labels) else None,
        "mean_confidence_kept": float(confidence[kept].mean()) if len(kept) else None,
        "per_class": per_class,
        "scorer": scorer.describe(),
    }
    return kept, report
