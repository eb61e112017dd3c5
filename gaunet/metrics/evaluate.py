"""Run the chosen extractors and metrics on a real and a synthetic ImageSet; one dict out.

The real set is split as the data layer does (official split kept, else `assign_split`); the
reference split (`split`, default test) is what FD/KID/PRDC compare against, the train split is
what the domain classifier learns from and what the memorization audit searches.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from gaunet.data.imageset import ImageSet
from gaunet.data.splits import assign_split
from gaunet.errors import GaunetError
from gaunet.metrics.features import ExtractorSettings, FeaturesUnavailable, make_extractor
from gaunet.metrics.fidelity import class_fidelity
from gaunet.metrics.frechet import frechet_distance
from gaunet.metrics.kid import kernel_distance
from gaunet.metrics.memorization import copy_audit, pairs_png, pixel_features
from gaunet.metrics.prdc import prdc
from gaunet.metrics.verdict import domain_classifier_check


def align_classes(synthetic: ImageSet, class_names: list[str]) -> np.ndarray:
    """Synthetic labels as indices into the real class names (matched by name when possible)."""
    if all(name in class_names for name in synthetic.class_names):
        lookup = np.asarray([class_names.index(n) for n in synthetic.class_names], dtype=np.int64)
        return lookup[synthetic.labels]
    if synthetic.labels.max(initial=0) < len(class_names):
        return np.asarray(synthetic.labels, dtype=np.int64)
    raise GaunetError(
        f"{synthetic.source}: classes {synthetic.class_names} do not match the real classes "
        f"{class_names}"
    )


def subsample(data: ImageSet, max_images: int | None, seed: int) -> ImageSet:
    """A seeded random subset of at most max_images rows (all rows when None)."""
    if max_images is None or len(data) <= max_images:
        return data
    index = np.sort(np.random.default_rng(seed).choice(len(data), max_images, replace=False))
    return data.subset(index)


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


def evaluate(
    real: ImageSet,
    synthetic: ImageSet,
    features: Sequence[str] = ("domain",),
    split: str = "test",
    max_images: int | None = None,
    seed: int = 0,
    k: int = 5,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    audit_features: str | None = None,
    figures_dir: Path | None = None,
    settings: ExtractorSettings | None = None,
    figures_prefix: str = "",
) -> dict[str, Any]:
    """Every number with its extractor and sample sizes (see docs/metrics.md).

    The closest-pairs PNGs are written to `figures_dir` as
    `{figures_prefix}closest-pairs-{space}.png`."""
    real = assign_split(real, seed=seed)
    train = subsample(real.where_split("train"), max_images, seed)
    test = subsample(real.where_split("test"), max_images, seed + 1)
    reference = subsample(real.where_split(split), max_images, seed + 2)
    synthetic = subsample(synthetic, max_images, seed + 3)
    sizes = {
        "real train": len(train),
        f"real {split} (reference)": len(reference),
        "real test (memorization audit)": len(test),
        "synthetic": len(synthetic),
    }
    if min(sizes.values()) < 2:  # before any extractor: an empty set fails deep inside one
        counts = ", ".join(f"{name} {n}" for name, n in sizes.items())
        raise GaunetError(f"{real.source}: need at least two images in each set ({counts})")
    fake_labels = align_classes(synthetic, real.class_names)
    settings = settings or ExtractorSettings(seed=seed)
    settings.train = real.where_split("train")
    names = real.class_names
    out: dict[str, Any] = {
        "reference_split": split,
        "samples": {
            "real_train": len(train),
            "real_test": len(test),
            f"real_{split}": len(reference),
            "synthetic": len(synthetic),
            "max_images": max_images,
            "per_class_reference": reference.class_counts(),
            "per_class_synthetic": {n: int((fake_labels == i).sum()) for i, n in enumerate(names)},
        },
        "sources": {"real": real.source, "synthetic": synthetic.source},
        "classes": names,
        "seed": seed,
        "features": {},
    }
    audit_name = audit_features or ("domain" if "domain" in features else None)
    audit_space: tuple[str, np.ndarray, np.ndarray, np.ndarray] | None = None
    for name in features:
        try:
            extractor = make_extractor(name, settings)
        except FeaturesUnavailable as error:
            out["features"][name] = {"available": False, "reason": str(error)}
            continue
        real_features = extractor(reference.images)
        fake_features = extractor(synthetic.images)
        measure = partial(
            compare,
            metric_name=extractor.metric_name,
            k=k,
            kid_subsets=kid_subsets,
            kid_subset_size=kid_subset_size,
            seed=seed,
        )
        entry: dict[str, Any] = {
            "available": True,
            "metric_name": extractor.metric_name,
            "dim": int(real_features.shape[1]),
            "extractor": extractor.describe(),
            "overall": measure(real_features, fake_features),
            "per_class": {
                class_name: measure(
                    real_features[reference.labels == c], fake_features[fake_labels == c]
                )
                for c, class_name in enumerate(names)
            },
        }
        out["features"][name] = entry
        if name == "domain":
            out["PA"] = class_fidelity(
                extractor.predict_proba(synthetic.images), fake_labels, names
            )
            out["PA"]["real_reference_accuracy"] = class_fidelity(
                extractor.predict_proba(reference.images), reference.labels, names
            )
            if len(test):  # how far FD_domain, PA and the domain audit can be trusted
                correct = extractor.predict_proba(test.images).argmax(1) == test.labels
                out["domain_classifier"] = domain_classifier_check(
                    float(correct.mean()), test.class_counts(), len(names)
                )
        if audit_name == name or (audit_name is None and audit_space is None):
            audit_space = (name, extractor(train.images), extractor(test.images), fake_features)
    out["memorization"] = {}
    spaces = [("pixel", *(pixel_features(s.images) for s in (train, test, synthetic)))]
    if audit_space is not None:
        spaces.append(audit_space)
    for space, train_f, test_f, fake_f in spaces:
        audit = copy_audit(train_f, test_f, fake_f, fake_labels, names, seed=seed)
        for pair in audit["closest_pairs"]:
            pair["synthetic_id"] = str(synthetic.ids[pair["synthetic"]])
            pair["train_id"] = str(train.ids[pair["train"]])
        if figures_dir is not None:
            figures_dir.mkdir(parents=True, exist_ok=True)
            path = Path(figures_dir) / f"{figures_prefix}closest-pairs-{space}.png"
            title = f"closest synthetic-train pairs, {space} space"
            path.write_bytes(
                pairs_png(synthetic.images, train.images, audit["closest_pairs"], title)
            )
            audit["figure"] = str(path)
        out["memorization"][space] = audit
    return out
