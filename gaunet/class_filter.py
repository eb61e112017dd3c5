"""Keeping the generated images a classifier is surest of: `gaunet generate --filter-pool K`
and `gaunet benchmark --filter-pool K` draw K x the images wanted per class, score them with the
small domain CNN trained on the generator's own training images (nothing else: no test or
validation image decides what is kept), and keep the most confident of each class. On
BreastMNIST it made a 5,000-epoch generator's images alone beat plain copies of the real
images, not on top of classic augmentation (docs/augmentation.md, "Filtering the 5,000-epoch
images")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gaunet.data.imageset import ImageSet
from gaunet.errors import GaunetError
from gaunet.progress import silenced


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
        kept.append(rows[_most_confident(confidence[rows], n)])
    return np.concatenate(kept) if kept else np.zeros(0, np.int64)


def _most_confident(confidence: np.ndarray, n: int) -> np.ndarray:
    """Positions of the `n` highest confidences, ascending; ties go to the earlier position."""
    return np.sort(np.argsort(-confidence, kind="stable")[:n])


def domain_scorer(
    train: ImageSet, device: str = "cpu"
) -> tuple[Callable[[np.ndarray], np.ndarray], int, dict[str, Any]]:
    """The filter's scorer for a generator trained on `train`: class probabilities of uint8 NCHW
    images, the batch it scores at once, and its description for filter.json."""
    from gaunet.metrics.features.domain import DomainExtractor

    scorer = DomainExtractor.for_training_set(train, device=device)
    return scorer.predict_proba, scorer.inference_batch, scorer.describe()


class StreamingChoice:
    """`choose` over candidates that arrive one at a time, holding only the kept candidates of
    each class and one scoring batch, not the whole pool (3 x 1,000 candidates per class at
    256 px RGB would be 1.2 GB). Candidates are scored in batches of `batch` consecutive ones,
    the batches that scoring the whole pool at once gives, so the probabilities and what is kept
    are those of `choose` on the whole pool, by construction."""

    def __init__(
        self,
        score: Callable[[np.ndarray], np.ndarray],
        wanted: np.ndarray,
        class_names: list[str],
        batch: int,
    ) -> None:
        self._score, self._wanted, self._class_names = score, np.asarray(wanted), class_names
        self._batch = max(1, int(batch))
        self._pending: list[tuple[int, np.ndarray, Any]] = []
        self._probabilities: list[np.ndarray] = []
        self._labels: list[int] = []
        # per class: the kept candidates' numbers (ascending), confidences and payloads
        self._kept: dict[int, tuple[np.ndarray, np.ndarray, list[Any]]] = {}

    @property
    def held(self) -> int:
        """Candidates held in memory now: the kept ones and the batch waiting to be scored."""
        return len(self._pending) + sum(len(payloads) for *_, payloads in self._kept.values())

    def add(self, label: int, image: np.ndarray, payload: Any) -> None:
        """One candidate (uint8 CHW) of class `label`; `payload` comes back if it is kept."""
        self._pending.append((int(label), image, payload))
        if len(self._pending) >= self._batch:
            self._score_pending()

    def finish(self) -> tuple[list[Any], dict[str, Any]]:
        """The kept payloads, class by class in candidate order, and their confidence report."""
        self._score_pending()
        kept = [np.zeros(0, np.int64)]
        payloads: list[Any] = []
        for c in sorted(self._kept):
            numbers, _, held = self._kept[c]
            kept.append(numbers)
            payloads.extend(held)
        labels = np.asarray(self._labels, dtype=np.int64)
        classes = len(self._class_names)
        probabilities = (
            np.concatenate(self._probabilities) if self._probabilities else np.zeros((0, classes))
        )
        report = confidence_report(probabilities, labels, np.concatenate(kept), self._class_names)
        return payloads, report

    def _score_pending(self) -> None:
        if not self._pending:
            return
        first = len(self._labels)
        labels = np.asarray([label for label, _, _ in self._pending], dtype=np.int64)
        with silenced():  # one bar per batch would flood the caller's own bar
            probabilities = np.asarray(self._score(np.stack([i for _, i, _ in self._pending])))
        confidence = probabilities[np.arange(len(labels)), labels]
        for c in np.unique(labels):
            rows = np.flatnonzero(labels == c)
            numbers, kept_confidence, held = self._kept.get(
                int(c), (np.zeros(0, np.int64), np.zeros(0), [])
            )
            # kept ones first: their numbers are lower, so the stable sort breaks ties by number
            numbers = np.concatenate([numbers, first + rows])
            kept_confidence = np.concatenate([kept_confidence, confidence[rows]])
            held = held + [self._pending[r][2] for r in rows]
            best = _most_confident(kept_confidence, self._wanted[c])
            self._kept[int(c)] = (numbers[best], kept_confidence[best], [held[b] for b in best])
        self._probabilities.append(probabilities)
        self._labels.extend(labels.tolist())
        self._pending = []


def conditioning_images(kept: list[tuple[int, str]], class_names: list[str]) -> dict[str, int]:
    """filter.json's `conditioning_images`: per class, how many different training images the
    kept images were generated from. A generator that barely uses its noise draws nearly one
    image per training image, so the filter then chooses training images, and a larger pool
    keeps fewer of them (docs/augmentation.md, "A larger pool")."""
    sources: dict[int, set[str]] = {}
    for label, source in kept:
        sources.setdefault(int(label), set()).add(str(source))
    return {class_names[c]: len(sources[c]) for c in sorted(sources)}


def conditioning_line(sources: dict[str, int], per_class: dict[str, dict[str, Any]]) -> str:
    """What `gaunet generate --filter-pool` says of `conditioning_images`: the count per class,
    and what it means when each training image gave several kept images."""
    counts = ", ".join(f"{name} {n} for {per_class[name]['kept']}" for name, n in sources.items())
    text = f"different training images behind the kept images: {counts}"
    if any(2 * n < per_class[name]["kept"] for name, n in sources.items()):
        text += (
            ". Several kept images per training image: the generator varies little with its "
            "noise, so the filter chose which training images to condition on, and a larger "
            'pool narrows them further (docs/augmentation.md, "A larger pool")'
        )
    return text


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
