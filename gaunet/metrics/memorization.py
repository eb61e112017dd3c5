"""Memorization audit: is a synthetic image closer to a training image than real images are?

For each synthetic image: the distance to its nearest training image (in a feature space and in
pixel space). The threshold is the 5th percentile of the same distance for real test images
(test -> train; a test image identical to a training image, a duplicate across the source's
split, is left out of it); the copy rate is the share of synthetic images under it. A generator
that samples the real distribution scores about 0.05 (the test images themselves score 0.05 by
construction); one that returns its training images scores about 1. The closest pairs are kept
for a human to look at.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gaunet.data.duplicates import identical_to_any
from gaunet.io import write_atomic
from gaunet.metrics.bootstrap import bootstrap_mean_ci
from gaunet.metrics.prdc import pairwise_distances

if TYPE_CHECKING:
    from gaunet.metrics.inputs import MetricInputs

PIXEL_SIZE = 32
THRESHOLD_PERCENTILE = 5.0


def pixel_features(images: np.ndarray, size: int = PIXEL_SIZE) -> np.ndarray:
    """Grey, area-downsampled to size x size, in [0, 1], flattened; distances are then RMS-like."""
    import cv2

    grey = images.astype(np.float32).mean(1) / 255.0
    if grey.shape[1:] != (size, size):
        grey = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in grey])
    return grey.reshape(len(grey), -1) / size


def nearest(
    reference: np.ndarray, queries: np.ndarray, chunk: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each query's nearest reference row, in chunks to bound memory."""
    distances, indices = [], []
    for start in range(0, len(queries), chunk):
        block = pairwise_distances(queries[start : start + chunk], reference)
        index = block.argmin(1)
        indices.append(index)
        distances.append(block[np.arange(len(block)), index])
    return np.concatenate(distances), np.concatenate(indices)


def copy_audit(
    train: np.ndarray,
    test: np.ndarray,
    synthetic: np.ndarray,
    synthetic_labels: np.ndarray | None = None,
    class_names: list[str] | None = None,
    pairs: int = 16,
    seed: int = 0,
) -> dict[str, Any]:
    """Copy rate of synthetic vs train, thresholded by real test -> train distances."""
    if not all(np.isfinite(part).all() for part in (train, test, synthetic)):
        # a NaN distance is never under the threshold: the copy rate would read 0.0
        raise ValueError("the copy audit needs finite features: NaN or inf found")
    test_distance, _ = nearest(train, test)
    threshold = float(np.percentile(test_distance, THRESHOLD_PERCENTILE))
    distance, index = nearest(train, synthetic)
    copied = (distance < threshold).astype(np.float64)
    result: dict[str, Any] = {
        "copy_rate": float(copied.mean()),
        "ci95": bootstrap_mean_ci(copied, seed=seed),
        "threshold": threshold,
        "threshold_rule": f"{THRESHOLD_PERCENTILE:g}th percentile of real test->train distance",
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "n_synthetic": int(len(synthetic)),
        "synthetic_to_train": _summary(distance),
        "test_to_train": _summary(test_distance),
    }
    if synthetic_labels is not None and class_names is not None:
        result["per_class"] = {
            name: {"copy_rate": float(copied[synthetic_labels == k].mean()), "n": int(m)}
            for k, name in enumerate(class_names)
            if (m := int((synthetic_labels == k).sum()))
        }
    order = np.argsort(distance, kind="stable")[:pairs]
    result["closest_pairs"] = [
        {"synthetic": int(i), "train": int(index[i]), "distance": float(distance[i])} for i in order
    ]
    return result


def memorization_entry(inputs: MetricInputs) -> dict[str, Any]:
    """The `memorization` entry: the copy audit in pixel space and in one feature space
    (MetricInputs.audit_space), each pair named by image id, each figure written when asked."""
    sets = (inputs.train, inputs.test, inputs.synthetic)
    spaces = {"pixel": [pixel_features(s.images) for s in sets]}
    feature_space = inputs.audit_space()
    if feature_space is not None:
        parts = ("train", "test", "synthetic")
        spaces[feature_space] = [inputs.features_of(feature_space, p) for p in parts]
    # a real test image identical to a training image (a duplicate across the source's split)
    # is at distance 0: it would pull the threshold to 0 and hide every copy
    duplicate = identical_to_any(inputs.test.images, inputs.train.images)
    kept = ~duplicate if (~duplicate).sum() >= 2 else np.ones_like(duplicate)
    entry = {}
    for space, (train, test, synthetic) in spaces.items():
        entry[space] = _named_audit(inputs, space, train, test[kept], synthetic)
        entry[space]["test_identical_to_train"] = int(duplicate.sum())
    return entry


def _named_audit(
    inputs: MetricInputs, space: str, train: np.ndarray, test: np.ndarray, fake: np.ndarray
) -> dict[str, Any]:
    """copy_audit with ids beside the row numbers, and its closest-pairs PNG under
    `{figures_prefix}closest-pairs-{space}.png` when figures_dir is set."""
    labels, names = inputs.synthetic_labels, inputs.class_names
    audit = copy_audit(train, test, fake, labels, names, seed=inputs.seed)
    for pair in audit["closest_pairs"]:
        pair["synthetic_id"] = str(inputs.synthetic.ids[pair["synthetic"]])
        pair["train_id"] = str(inputs.train.ids[pair["train"]])
    if inputs.figures_dir is not None:
        inputs.figures_dir.mkdir(parents=True, exist_ok=True)
        path = Path(inputs.figures_dir) / f"{inputs.figures_prefix}closest-pairs-{space}.png"
        title = f"closest synthetic-train pairs, {space} space"
        pairs = audit["closest_pairs"]
        png = pairs_png(inputs.synthetic.images, inputs.train.images, pairs, title)
        write_atomic(path, png, durable=False)
        audit["figure"] = str(path)
    return audit


def _summary(values: np.ndarray) -> dict[str, float]:
    return {
        "min": float(values.min()),
        "p5": float(np.percentile(values, 5)),
        "median": float(np.median(values)),
        "mean": float(values.mean()),
    }


def pairs_png(
    synthetic: np.ndarray, train: np.ndarray, pairs: list[dict[str, Any]], title: str = ""
) -> bytes:
    """PNG of the closest (synthetic | nearest training) pairs, distance in each caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 4
    rows = max(1, -(-len(pairs) // columns))
    figure, axes = plt.subplots(rows, 2 * columns, figsize=(2 * columns * 1.3, rows * 1.5))
    axes = np.atleast_2d(axes)
    for ax in axes.flat:
        ax.axis("off")
    for n, pair in enumerate(pairs):
        r, c = divmod(n, columns)
        for offset, (image, label) in enumerate(
            ((synthetic[pair["synthetic"]], "synthetic"), (train[pair["train"]], "train"))
        ):
            ax = axes[r, 2 * c + offset]
            shown = image.transpose(1, 2, 0)
            ax.imshow(
                shown[:, :, 0] if shown.shape[2] == 1 else shown, cmap="gray", vmin=0, vmax=255
            )
            caption = f"{label}\nd={pair['distance']:.3g}" if offset == 0 else label
            ax.set_title(caption, fontsize=7)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
