"""Feature extractors, one file each, looked up by name.

An extractor maps uint8 images (N, C, H, W) to float features (N, D). `metric_name` is what a
Frechet distance on its features is called: FID only for the TF-Inception network, FD_<name>
for every other extractor, so a number is never passed off as an FID when it is not one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gaunet.data.imageset import ImageSet
from gaunet.errors import GaunetError
from gaunet.progress import progress


class FeaturesUnavailable(GaunetError):
    """The extractor's weights or packages are missing; the message says how to install them."""


class FeatureExtractor(Protocol):
    name: str
    metric_name: str
    dim: int

    def __call__(self, images: np.ndarray) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass
class ExtractorSettings:
    """Everything a factory may need; each one reads only its own fields."""

    train: ImageSet | None = None  # real training split (the domain classifier learns on it)
    inception_weights: Path | None = None
    batch_size: int = 32
    # auto (CUDA when available; the CLI's default too: the Python API ran on the CPU of a GPU
    # machine), cpu, cuda, cuda:1, ...
    device: str = "auto"
    domain: dict[str, Any] = field(default_factory=dict)  # DomainSettings overrides
    seed: int | None = None  # the domain classifier's; None: evaluate()'s seed (0 elsewhere)


def batched(
    forward: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch_size: int, desc: str
) -> np.ndarray:
    """Run `forward` over uint8 images in batches under one progress bar."""
    chunks = []
    with progress(total=len(images), desc=desc, unit="img") as bar:
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            chunks.append(np.asarray(forward(batch), dtype=np.float32))
            bar.update(len(batch))
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(chunks)


def _inception(settings: ExtractorSettings) -> FeatureExtractor:
    from gaunet.metrics.features.inception import InceptionExtractor

    return InceptionExtractor(settings.inception_weights, settings.batch_size, settings.device)


def _efficientnet(settings: ExtractorSettings) -> FeatureExtractor:
    from gaunet.metrics.features.efficientnet import EfficientNetExtractor

    return EfficientNetExtractor(settings.batch_size, settings.device)


def _domain(settings: ExtractorSettings) -> FeatureExtractor:
    from gaunet.metrics.features.domain import DomainExtractor, DomainSettings

    if settings.train is None:
        raise GaunetError("the domain extractor needs the real training split")
    seed = 0 if settings.seed is None else settings.seed
    options = DomainSettings(**{"seed": seed, **settings.domain})
    return DomainExtractor.for_training_set(settings.train, options, settings.device)


EXTRACTORS: dict[str, Callable[[ExtractorSettings], FeatureExtractor]] = {
    "inception": _inception,
    "efficientnet": _efficientnet,
    "domain": _domain,
}


def make_extractor(name: str, settings: ExtractorSettings) -> FeatureExtractor:
    """The extractor called `name`, on settings.device (`auto` resolved here, so every extractor
    sees a concrete device); FeaturesUnavailable when its weights are not installed."""
    from dataclasses import replace

    from gaunet.device import resolve_device

    if name not in EXTRACTORS:
        raise GaunetError(
            f"unknown feature extractor {name!r} (choose from {', '.join(EXTRACTORS)})"
        )
    device = str(resolve_device(str(settings.device)))
    return EXTRACTORS[name](replace(settings, device=device))


def grey_to_rgb(images: np.ndarray) -> np.ndarray:
    """(N, 1|3, H, W) -> (N, 3, H, W), replicating grey like the references do."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected (N, 1|3, H, W) images, got {images.shape}")
    return np.repeat(images, 3, axis=1) if images.shape[1] == 1 else images


__all__ = [
    "EXTRACTORS",
    "ExtractorSettings",
    "FeatureExtractor",
    "FeaturesUnavailable",
    "batched",
    "grey_to_rgb",
    "make_extractor",
]
