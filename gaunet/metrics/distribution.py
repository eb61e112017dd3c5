"""Distribution metrics of each extractor's features: FD (FID for Inception), KID and PRDC of the
synthetic set against the real reference split, overall and per class (the `features` entry)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from gaunet.metrics.frechet import frechet_distance
from gaunet.metrics.kid import kernel_distance
from gaunet.metrics.prdc import prdc

if TYPE_CHECKING:
    from gaunet.metrics.inputs import MetricInputs


def compare(
    real: np.ndarray,
    fake: np.ndarray,
    metric_name: str,
    k: int,
    kid_subsets: int,
    kid_subset_size: int,
    seed: int,
) -> dict[str, Any]:
    """FD, KID and PRDC of one pair of feature sets; metrics the sizes cannot support are None."""
    result: dict[str, Any] = {"n_real": int(len(real)), "n_synthetic": int(len(fake))}
    enough = len(real) >= 2 and len(fake) >= 2
    result[metric_name] = frechet_distance(real, fake) if enough else None
    result["KID"] = (
        kernel_distance(real, fake, kid_subsets, kid_subset_size, seed) if enough else None
    )
    result["PRDC"] = prdc(real, fake, k=k, seed=seed) if min(len(real), len(fake)) > k else None
    return result


def feature_entries(inputs: MetricInputs) -> dict[str, Any]:
    """The `features` entry: one per requested extractor, or why it is unavailable."""
    entries: dict[str, Any] = {}
    for name in inputs.features:
        extractor = inputs.extractor(name)
        if extractor is None:
            entries[name] = {"available": False, "reason": inputs.unavailable[name]}
            continue
        real = inputs.features_of(name, "reference")
        fake = inputs.features_of(name, "synthetic")
        measure = partial(
            compare,
            metric_name=extractor.metric_name,
            k=inputs.k,
            kid_subsets=inputs.kid_subsets,
            kid_subset_size=inputs.kid_subset_size,
            seed=inputs.seed,
        )
        real_labels, fake_labels = inputs.reference.labels, inputs.synthetic_labels
        entries[name] = {
            "available": True,
            "metric_name": extractor.metric_name,
            "dim": int(real.shape[1]),
            "extractor": extractor.describe(),
            "overall": measure(real, fake),
            "per_class": {
                class_name: measure(real[real_labels == c], fake[fake_labels == c])
                for c, class_name in enumerate(inputs.class_names)
            },
        }
    return entries
