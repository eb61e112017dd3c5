"""Run the chosen extractors and metrics on a real and a synthetic ImageSet; one dict out.

The real set is split as the data layer does (official split kept, else `assign_split`); the
reference split (`split`, default test) is what FD/KID/PRDC compare against, the train split is
what the domain classifier learns from and what the memorization audit searches. The metrics
themselves are registered in gaunet.metrics.registry; this module draws the shared inputs once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gaunet.config_checks import is_whole
from gaunet.data.imageset import ImageSet
from gaunet.data.splits import assign_split, empty_split_cause
from gaunet.errors import GaunetError
from gaunet.metrics.features import ExtractorSettings
from gaunet.metrics.fidelity import two_class_reason
from gaunet.metrics.identical import identical_to_real
from gaunet.metrics.inputs import MetricInputs
from gaunet.metrics.registry import compute_metrics


def align_classes(synthetic: ImageSet, class_names: list[str]) -> np.ndarray:
    """Synthetic labels as indices into the real class names, matched by name: exactly, else
    ignoring case, else as `gaunet generate` names class folders (`privacy.folder_names`).
    Never by position: two classes swapped would score good images as unusable."""
    from gaunet.privacy import folder_names

    lookups = [
        (str, {name: k for k, name in enumerate(class_names)}),
        (str.lower, {name.lower(): k for k, name in enumerate(class_names)}),
        (str.lower, {name.lower(): k for k, name in enumerate(folder_names(class_names))}),
    ]
    # each name on its own: one folder renamed to its real name ("a b") beside another still
    # named as generate wrote it ("c_d") matched neither whole-set rule and was refused
    found = [
        next((lookup[fold(name)] for fold, lookup in lookups if fold(name) in lookup), None)
        for name in synthetic.class_names
    ]
    if None not in found and len(set(found)) == len(found):
        return np.asarray(found, dtype=np.int64)[synthetic.labels]
    unknown = [name for name, k in zip(synthetic.class_names, found) if k is None]
    twins = {
        class_names[k]: [n for n, j in zip(synthetic.class_names, found) if j == k]
        for k in set(found) - {None}
        if found.count(k) > 1
    }
    why = [f"no real class named {', '.join(map(repr, unknown))}"] if unknown else []
    why += [f"{' and '.join(map(repr, n))} all name real class {c!r}" for c, n in twins.items()]
    raise GaunetError(
        f"{synthetic.source}: classes {synthetic.class_names} do not match the real classes "
        f"{class_names} ({'; '.join(why)}): name each "
        "synthetic class folder after its real class, as `gaunet generate` does"
    )


def subsample(data: ImageSet, max_images: int | None, seed: int) -> ImageSet:
    """A seeded random subset of at most max_images rows (all rows when None)."""
    if max_images is None or len(data) <= max_images:
        return data
    index = np.sort(np.random.default_rng(seed).choice(len(data), max_images, replace=False))
    return data.subset(index)


def draw_sets(
    real: ImageSet, synthetic: ImageSet, split: str, max_images: int | None, seed: int
) -> dict[str, ImageSet]:
    """The four sets the metrics compare, every one with two images or more: the train split
    whole (the copy audit searches every image a generator could have copied: of a sample of
    a third of them it would find about a third of the copies), the others seeded subsets."""
    sets = {
        "train": real.where_split("train"),
        "test": subsample(real.where_split("test"), max_images, seed + 1),
        # --split test: the same subset as `test`, so that one run reports one real test
        # accuracy (PA's and the domain classifier's), not two from two samples
        "reference": subsample(
            real.where_split(split), max_images, seed + (1 if split == "test" else 2)
        ),
        "synthetic": subsample(synthetic, max_images, seed + 3),
    }
    sizes = {
        "real train": len(sets["train"]),
        f"real {split} (reference)": len(sets["reference"]),
        "real test (memorization audit)": len(sets["test"]),
        "synthetic": len(sets["synthetic"]),
    }
    if min(sizes.values()) < 2:  # before any extractor: an empty set fails deep inside one
        counts = ", ".join(f"{name} {n}" for name, n in sizes.items())
        if min(n for name, n in sizes.items() if name != "synthetic") >= 2:  # named the real
            raise GaunetError(
                f"{synthetic.source}: need at least two images in each set ({counts})"
            )
        cause = empty_split_cause(real.split, real.groups, real.labels, seed=seed)
        raise GaunetError(
            f"{real.source}: need at least two images in each set ({counts})"
            + (f": {cause}" if cause else "")
        )
    return sets


def sample_sizes(inputs: MetricInputs, split: str, max_images: int | None) -> dict[str, Any]:
    """The `samples` entry: how many images each number rests on."""
    labels = inputs.synthetic_labels
    return {
        "real_train": len(inputs.train),
        "real_test": len(inputs.test),
        # the reference of --split train is a (--max-images) sample of it: not real_train
        f"real_{split}" + ("_reference" if split == "train" else ""): len(inputs.reference),
        "synthetic": len(inputs.synthetic),
        "max_images": max_images,
        "per_class_reference": inputs.reference.class_counts(),
        "per_class_synthetic": {
            name: int((labels == i).sum()) for i, name in enumerate(inputs.class_names)
        },
    }


SPLITS = ("train", "val", "test")


def evaluation_problems(
    split: str = "test",
    max_images: int | None = None,
    k: int = 5,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    diversity_sources: int = 16,
    diversity_draws: int = 8,
    noise_scale: float | None = None,
    settings: ExtractorSettings | None = None,
) -> list[str]:
    """Every out-of-range request as one line, named by its `gaunet evaluate` option: checked
    by the command before the images load, and by evaluate() for callers from Python (a
    kid_subsets of 0 or a batch size of 0 failed minutes in, or gave NaN)."""

    problems = [] if split in SPLITS else [f"--split {split!r}: choose one of {', '.join(SPLITS)}"]
    at_least = {
        "--k": (k, 1),
        "--kid-subsets": (kid_subsets, 1),
        "--kid-subset-size": (kid_subset_size, 2),
        "--diversity-sources": (diversity_sources, 1),
        "--diversity-draws": (diversity_draws, 2),
    }
    if max_images is not None:
        at_least["--max-images"] = (max_images, 2)
    if settings is not None:
        at_least["--batch-size"] = (settings.batch_size, 1)
        for key, low in (("steps", 1), ("size", 8)):
            if key in settings.domain:
                at_least[f"--domain-{key}"] = (settings.domain[key], low)
    for option, (value, low) in at_least.items():
        if not (is_whole(value) and value >= low):
            problems.append(f"{option} must be at least {low}, not {value!r}")
    if noise_scale is not None and not 0 < noise_scale < float("inf"):
        problems.append(f"--noise-scale {noise_scale}: the noise scale must be a positive number")
    return problems


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
    generator: Callable[[], Any] | None = None,
    diversity_sources: int = 16,
    diversity_draws: int = 8,
    noise_scale: float | None = None,
) -> dict[str, Any]:
    """Every number with its extractor and sample sizes (see docs/metrics.md).

    The closest-pairs PNGs are written to `figures_dir` as
    `{figures_prefix}closest-pairs-{space}.png`. With one real class there is nothing for the
    domain classifier to tell apart: it is not trained, the numbers resting on it (PA, FD_domain,
    the domain copy audit) are left out, `not_applicable` says why, and the copy audit uses the
    next requested extractor; the rest is measured as usual. `generator` (a loader of a trained
    generator, called when its metric runs) adds `noise_diversity`."""
    if isinstance(features, str):  # features="domain,inception" as --features takes it
        features = [name.strip() for name in features.split(",") if name.strip()]
    problems = evaluation_problems(
        split, max_images, k, kid_subsets, kid_subset_size, diversity_sources, diversity_draws,
        noise_scale, settings,
    )  # fmt: skip
    if problems:
        raise GaunetError("; ".join(problems))
    # a shallow copy: the caller's ImageSet keeps its own (absent) split
    real = assign_split(dataclasses.replace(real), seed=seed)
    sets = draw_sets(real, synthetic, split, max_images, seed)
    synthetic_labels = align_classes(sets["synthetic"], real.class_names)
    settings = settings or ExtractorSettings(seed=seed)
    if settings.seed is None:  # evaluate(seed=5, settings=ExtractorSettings(...)) trained with 0
        settings = dataclasses.replace(settings, seed=seed)
    settings.train = real.where_split("train")  # the whole split: the domain classifier's data
    # no domain classifier on one class: the copy audit then uses the first other extractor
    # that is available (MetricInputs.audit_space), not the first named, which may be missing
    one_class = two_class_reason(real.class_names)
    inputs = MetricInputs(
        **sets,
        synthetic_labels=synthetic_labels,
        class_names=real.class_names,
        settings=settings,
        features=tuple(features),
        seed=seed,
        k=k,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
        audit_features=audit_features,
        figures_dir=figures_dir,
        figures_prefix=figures_prefix,
        generator=generator,
        diversity_sources=diversity_sources,
        diversity_draws=diversity_draws,
        noise_scale=noise_scale,
        unavailable={"domain": one_class} if one_class else {},
    )
    result = {
        "reference_split": split,
        "samples": sample_sizes(inputs, split, max_images),
        "sources": {"real": real.source, "synthetic": inputs.synthetic.source},
        "classes": real.class_names,
        "seed": seed,
        **compute_metrics(inputs),
        "identical_to_real": identical_to_real(real, sets["reference"], sets["synthetic"]),
    }
    if one_class:  # said in the JSON, not just left out (gaunet.metrics.verdict says it too)
        result["not_applicable"] = {"PA": one_class, "domain_classifier": one_class}
    return result
