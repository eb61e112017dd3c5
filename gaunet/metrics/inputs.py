"""The inputs every metric shares, built once per `evaluate` call (cf. stylegan2-ada-pytorch's
MetricOptions): the subsampled image sets, the synthetic labels, the options, and the feature
extractors with their features, each made on first use and then kept, so that two metrics on
one extractor neither load it twice nor extract the same images twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gaunet.data.imageset import ImageSet
from gaunet.errors import GaunetError
from gaunet.metrics.features import (
    ExtractorSettings,
    FeatureExtractor,
    FeaturesUnavailable,
    make_extractor,
)

PARTS = ("train", "test", "reference", "synthetic")


@dataclass
class MetricInputs:
    """What a registered metric may read; see gaunet.metrics.evaluate for how each set is drawn."""

    train: ImageSet  # real train split: the copy audit searches it
    test: ImageSet  # real test split: the audit's threshold, the domain classifier's check
    reference: ImageSet  # real split that FD/KID/PRDC and PA compare against
    synthetic: ImageSet
    synthetic_labels: np.ndarray  # indices into class_names
    class_names: list[str]
    settings: ExtractorSettings
    features: tuple[str, ...] = ("domain",)
    seed: int = 0
    k: int = 5
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    audit_features: str | None = None
    figures_dir: Path | None = None
    figures_prefix: str = ""
    # noise diversity: a loader of the trained generator (an object with .sample; the caller
    # loads it, metrics never import the generation code), its sources, draws and noise scale
    generator: Callable[[], Any] | None = None
    diversity_sources: int = 16
    diversity_draws: int = 8
    noise_scale: float | None = None
    unavailable: dict[str, str] = field(default_factory=dict)  # extractor -> why
    _extractors: dict[str, FeatureExtractor] = field(default_factory=dict, repr=False)
    _features: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    def extractor(self, name: str) -> FeatureExtractor | None:
        """The extractor `name`, made on first use; None (reason in `unavailable`) when its
        weights or packages are missing."""
        if name not in self._extractors and name not in self.unavailable:
            try:
                self._extractors[name] = make_extractor(name, self.settings)
            except FeaturesUnavailable as error:
                self.unavailable[name] = str(error)
        return self._extractors.get(name)

    def features_of(self, name: str, part: str) -> np.ndarray:
        """Features of one image set (a name in PARTS) under extractor `name`, kept."""
        if part not in PARTS:
            raise ValueError(f"unknown image set {part!r} (choose from {', '.join(PARTS)})")
        twin = {"test": "reference", "reference": "test"}.get(part, "")
        if (name, part) not in self._features and (name, twin) in self._features:
            # --split test: one subset twice (the copy audit's threshold and the reference);
            # extraction is per image, so its features are those already computed
            mine, theirs = getattr(self, part).images, getattr(self, twin).images
            if mine.shape == theirs.shape and np.array_equal(mine, theirs):
                self._features[name, part] = self._features[name, twin]
        if (name, part) not in self._features:
            extractor = self.extractor(name)
            if extractor is None:
                raise ValueError(f"extractor {name!r} is unavailable: {self.unavailable[name]}")
            features = extractor(getattr(self, part).images)
            bad = int((~np.isfinite(features)).any(axis=tuple(range(1, features.ndim))).sum())
            if bad:  # every distance to them compares False: FD fails, PRDC and copies read 0
                raise GaunetError(
                    f"the {name} features of {bad} of the {len(features)} {part} images are "
                    "NaN or inf, so no metric on them means anything"
                    + ("; the domain classifier trained on the real images diverged: leave "
                       "domain out of --features" if name == "domain" else "")
                )  # fmt: skip
            self._features[name, part] = features
        return self._features[name, part]

    def audit_space(self) -> str | None:
        """The feature space the copy audit uses beside pixels: `audit_features`, else domain
        when requested (and possible: not with one real class), else the first available
        extractor; None when the one chosen is missing."""
        domain = "domain" in self.features and "domain" not in self.unavailable
        chosen = self.audit_features or ("domain" if domain else None)
        if chosen:
            return chosen if chosen in self.features and self.extractor(chosen) else None
        return next((name for name in self.features if self.extractor(name)), None)

    def has(self, need: str) -> bool:
        """Whether a metric's declared need (a key of NEEDS) is met by these inputs."""
        return NEEDS[need](self)


# What a metric may declare it needs (gaunet.metrics.registry), and when each is met.
NEEDS: dict[str, Callable[[MetricInputs], bool]] = {
    "images": lambda inputs: True,  # uint8 real and synthetic sets (pixels, any extractor)
    "labels": lambda inputs: True,  # real labels and synthetic_labels
    "extractors": lambda inputs: True,  # the requested extractors (each may be unavailable)
    "domain classifier": lambda inputs: (
        "domain" in inputs.features and inputs.extractor("domain") is not None
    ),
    "generator": lambda inputs: inputs.generator is not None,  # a run to sample (noise diversity)
}


__all__ = ["NEEDS", "PARTS", "MetricInputs"]
