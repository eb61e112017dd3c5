"""`phantom`: a built-in, clearly synthetic ultrasound-like dataset so every command runs offline.

Class 0 "round-smooth": an elliptical, smooth-edged hypoechoic lesion. Class 1
"spiculated-irregular": a lesion whose border carries random spikes. Further classes (up to 4)
add a bright posterior shadow or a cystic ring. Speckle is multiplicative Rayleigh noise, as
in B-mode ultrasound. Two images per synthetic "patient" so grouped splits are exercised.
"""

from __future__ import annotations

import numpy as np

PHANTOM_CLASSES = ("round-smooth", "spiculated-irregular", "shadowed", "cystic-ring")


def parse_phantom_spec(spec: str) -> dict[str, int]:
    """`phantom` or `phantom:n=120,classes=3,seed=1` -> options (n is per class)."""
    options = {"n": 120, "classes": 2, "seed": 0}
    _, _, rest = spec.partition(":")
    given: set[str] = set()
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in options or not (value.isascii() and value.isdigit()):
            raise ValueError(f"phantom option {item!r} not understood (use n=, classes=, seed=)")
        if key in given:  # `n=10,n=20` would silently use the last one
            raise ValueError(f"phantom option {key}= given twice in {spec!r}")
        given.add(key)
        options[key] = int(value)
    if not 2 <= options["classes"] <= len(PHANTOM_CLASSES):
        raise ValueError(f"phantom classes must be 2..{len(PHANTOM_CLASSES)}")
    if options["n"] < 2:
        raise ValueError("phantom n (images per class) must be at least 2")
    return options


def _lesion(rng: np.random.Generator, size: int, label: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    cy, cx = rng.uniform(0.35, 0.65, 2)
    ry, rx = rng.uniform(0.12, 0.22, 2)
    angle = np.arctan2(yy - cy, xx - cx)
    radius = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
    if label == 1:  # spiculated: border modulated by several sharp harmonics
        spikes = rng.integers(6, 12)
        phase = rng.uniform(0, 2 * np.pi)
        border = 1.0 + 0.35 * np.abs(np.sin(spikes * angle / 2 + phase)) ** 4
        border += 0.08 * np.sin(rng.integers(13, 19) * angle)
    else:
        border = 1.0 + 0.04 * np.sin(2 * angle + rng.uniform(0, 6.3))
    edge = 0.06 if label == 1 else 0.18
    inside = 1.0 / (1.0 + np.exp((radius - border) / edge))
    tissue = 0.55 + 0.1 * np.sin(6 * np.pi * yy + rng.uniform(0, 6.3))
    image = tissue * (1 - 0.75 * inside)
    if label == 2:  # posterior acoustic shadow below the lesion
        shadow = (yy > cy) * np.exp(-(((xx - cx) / rx) ** 2) * 2)
        image *= 1 - 0.5 * shadow
    if label == 3:  # bright cystic ring
        image += 0.5 * np.exp(-(((radius - border) / 0.08) ** 2))
    speckle = rng.rayleigh(scale=0.8, size=(size, size)).astype(np.float32)
    return np.clip(image * speckle, 0, 1.6) / 1.6


def make_phantom(
    n_per_class: int = 120, num_classes: int = 2, size: int = 64, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Returns uint8 grey images (N, size, size), labels, class names and group ids."""
    rng = np.random.default_rng(seed)
    images, labels, groups = [], [], []
    for label in range(num_classes):
        for i in range(n_per_class):
            images.append(_lesion(rng, size, label))
            labels.append(label)
            groups.append(f"phantom-{label}-{i // 2:04d}")
    array = np.clip(np.rint(np.stack(images) * 255), 0, 255).astype(np.uint8)
    return (
        array,
        np.asarray(labels, dtype=np.int64),
        list(PHANTOM_CLASSES[:num_classes]),
        np.asarray(groups),
    )
