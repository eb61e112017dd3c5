"""Noise diversity: how much a trained generator's output changes with its noise alone.

An image-conditioned generator (DAGAN, GAU-Net) can learn to ignore z and return one image per
conditioning image. FD/KID over many conditioning images can hide that, and the augmentation
then adds one near-duplicate per training image, not new variation. For `sources` conditioning
images per class, `draws` noise vectors each: the mean absolute pixel difference between
draws of the same source (`within_source`), of a draw from its source (`to_source`), and
between distinct real training images of the class (`real_pairs`), all in [0, 1] intensity
units; `ratio` = within_source / real_pairs (0: the noise is ignored; about 1: the draws
differ as much as different patients' images do).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from gaunet.data.imageset import ImageSet, to_unit_tensor

REAL_PAIR_IMAGES = 64  # real images per class whose pairwise distances set the scale


class ConditionalGenerator(Protocol):
    """What noise_diversity reads of a trained generator (gaunet.trained_generator.TrainedGenerator);
    the caller loads it, so metrics never import the generation code."""

    class_names: list[str]

    @property
    def train_images(self) -> ImageSet: ...

    def conditioning_rows(self, class_index: int, n: int, seed: int, start: int = 0) -> Any: ...

    def sample(
        self,
        class_index: int,
        n: int,
        seed: int = 0,
        conditioning: torch.Tensor | None = None,
        start: int = 0,
    ) -> torch.Tensor: ...


def mean_pairwise_l1(images: torch.Tensor) -> float:
    """Mean |a - b| over pixels and over all unordered pairs of distinct images (n >= 2)."""
    flat = images.flatten(1).float()
    n = len(flat)
    if n < 2:
        raise ValueError("mean_pairwise_l1 needs at least two images")
    total = sum(float((flat[i + 1 :] - flat[i]).abs().mean(1).sum()) for i in range(n - 1))
    return total / (n * (n - 1) / 2)


def noise_diversity(
    generator: ConditionalGenerator, sources: int = 16, draws: int = 8, seed: int = 0
) -> dict[str, Any]:
    """Per class and overall (mean over classes): within_source, to_source, real_pairs, ratio;
    a class without training images is left out."""
    if draws < 2:
        raise ValueError("noise diversity needs at least 2 draws per source")
    train = generator.train_images
    per_class: dict[str, dict[str, float]] = {}
    for c, name in enumerate(generator.class_names):
        if not (train.labels == c).any():  # never trained on (generate leaves it out too): it
            continue  # has no conditioning image, and the error lost every other number
        rows = generator.conditioning_rows(c, min(sources, int((train.labels == c).sum())), seed)
        real = to_unit_tensor(train.images[rows])
        # all draws of a class in one call: item k * draws + j is draw j of source k
        fake = generator.sample(
            c, len(real) * draws, seed=seed, conditioning=real.repeat_interleave(draws, 0)
        ).cpu()
        fake = fake.view(len(real), draws, *fake.shape[1:])
        within = [mean_pairwise_l1((draws_k + 1) / 2) for draws_k in fake]
        to_source = ((fake - real[:, None]) / 2).abs().flatten(2).mean(2)
        members = np.flatnonzero(train.labels == c)
        pool = np.random.default_rng([seed, c]).permutation(members)[:REAL_PAIR_IMAGES]
        real_pairs = (
            mean_pairwise_l1(to_unit_tensor(train.images[pool]) / 2)
            if len(pool) > 1
            else float("nan")
        )
        spread = float(np.mean(within))
        per_class[name] = {
            "within_source": spread,
            "to_source": float(to_source.mean()),
            "real_pairs": real_pairs,
            "ratio": spread / real_pairs if real_pairs > 0 else float("nan"),
        }
    keys = ("within_source", "to_source", "real_pairs", "ratio")
    overall = {k: float(np.nanmean([v[k] for v in per_class.values()])) for k in keys}
    return {**overall, "sources": sources, "draws": draws, "seed": seed, "per_class": per_class}


def noise_diversity_entry(inputs: Any) -> dict[str, Any]:
    """The registry's `noise_diversity` entry (needs "generator"): the generator is loaded
    here, when this metric runs, by the loader the caller put in the inputs."""
    entry = noise_diversity(
        inputs.generator(),
        sources=inputs.diversity_sources,
        draws=inputs.diversity_draws,
        seed=inputs.seed,
    )
    if inputs.noise_scale is not None:
        entry["noise_scale"] = inputs.noise_scale
    return entry
