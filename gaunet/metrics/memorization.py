"""Memorization audit: is a synthetic image closer to a training image than real images are?

For each synthetic image: the distance to its nearest training image (in a feature space and in
pixel space). The threshold is the 5th percentile of the same distance for real test images
(test -> train; a test image identical to a training image, a duplicate across the source's
split, is left out of it); the copy rate is the share of synthetic images under it. With fewer
than 2 test images left, the training images set it instead: each one's distance to its nearest
other training image, those with an identical twin (blank ones included) left out
(`ThresholdReference`, shared with `gaunet generate --max-copy-rate`). A generator
that samples the real distribution scores about 0.05 (the test images themselves score 0.05 by
construction); one that returns its training images scores about 1. The closest pairs are kept
for a human to look at.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gaunet.data.duplicates import duplicate_sets, identical_to_any
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
        part = queries[start : start + chunk]
        distance, index = _exact_nearest(pairwise_distances(part, reference), part, reference)
        indices.append(index)
        distances.append(distance)
    return np.concatenate(distances), np.concatenate(indices)


def _exact_nearest(
    block: np.ndarray, queries: np.ndarray, reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest column of `block` (BLAS distances), chosen among the columns within
    rounding of its minimum by the distance recomputed from the difference vectors, and that
    distance (lowest index on ties). A BLAS product's rounding depends on the CPU and on how
    many rows the product has: left to it, an image at exactly the threshold (a copy of a
    test image) was a copy or not with the number of synthetic images, and an exact copy was
    not at distance 0."""
    q = np.asarray(queries, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    slack = 1e-9 * ((q * q).sum(1) + (r * r).sum(1).max())  # far above the products' rounding
    near = block**2 <= (block.min(1) ** 2 + slack)[:, None]
    index = block.argmin(1)
    tied = np.flatnonzero(near.sum(1) > 1)
    if len(tied):  # identical reference rows (blank frames) are measured once: the first
        rows_as_bytes = np.ascontiguousarray(r).view(np.dtype((np.void, 8 * r.shape[1])))
        same = np.unique(rows_as_bytes.ravel(), return_inverse=True)[1].reshape(-1)
    for i in tied:
        rows = np.flatnonzero(near[i])
        rows = rows[np.sort(np.unique(same[rows], return_index=True)[1])]  # ascending
        index[i] = rows[np.argmin(np.sqrt(np.square(r[rows] - q[i]).sum(1)))]
    return np.sqrt(np.square(r[index] - q).sum(1)), index


def leave_one_out(features: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Each row's distance to its nearest *other* row."""
    out = []
    for start in range(0, len(features), chunk):
        part = features[start : start + chunk]
        block = pairwise_distances(part, features)
        block[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        out.append(_exact_nearest(block, part, features)[0])
    return np.concatenate(out)


@dataclass(frozen=True)
class ThresholdReference:
    """Which real distances set the copy threshold, chosen from the images (so one choice
    serves every feature space). Real test images -> train, less the test images identical to
    a training image: they sit at distance 0 and would pull the threshold to 0, so that no copy
    is ever found. With fewer than 2 test images left (or none given): each training image ->
    its nearest other training image, less those with an identical twin, blank (one-value)
    images included, since two of them sit at distance 0 from each other too."""

    from_test: bool
    rows: np.ndarray  # bool over the test rows (from_test) or the training rows used
    rule: str  # what the distances are, with n and what was left out
    note: str = ""  # why the training images set it, or why it may be 0; "" when neither
    test_identical: int = 0  # real test images identical to a training image

    @classmethod
    def of(cls, train: np.ndarray, test: np.ndarray | None) -> ThresholdReference:
        """From the images (uint8 (N, C, H, W)): the training and the real held-out ones."""
        identical = np.zeros(0, dtype=bool)
        if test is not None and len(test):
            identical = identical_to_any(test, train)
        same = int(identical.sum())
        if (~identical).sum() >= 2:
            rule = f"real test -> train (n={int((~identical).sum())})"
            if same:
                rule += f"; {same} real test images identical to a training image left out"
            return cls(True, ~identical, rule, test_identical=same)
        if len(train) < 2:
            raise ValueError("the copy threshold needs at least 2 training images")
        notes = []
        if same:
            notes.append(f"{same} of the {len(identical)} real test images are training images")
        elif len(identical):
            notes.append(f"only {len(identical)} real test image")
        if notes:
            notes[0] += ", so the threshold comes from the training images instead"
        twin = np.zeros(len(train), dtype=bool)
        for rows in duplicate_sets(train, blank=True):
            twin[rows] = True
        rows = ~twin if (~twin).sum() >= 2 else np.ones_like(twin)
        rule = f"train -> other train images, leave-one-out (n={int(rows.sum())})"
        if not rows.all():
            rule += f"; {int(twin.sum())} training images with an identical twin left out"
        elif twin.any():
            notes.append(
                f"{int(twin.sum())} of the {len(train)} training images have an identical twin "
                "(blank ones included), so the threshold may be 0: then nothing counts as a copy"
            )
        return cls(False, rows, rule, "; ".join(notes), same)

    def distances(
        self, train_features: np.ndarray, test_features: np.ndarray | None = None
    ) -> np.ndarray:
        """The distances the threshold is a percentile of, in these features' space."""
        if self.from_test:
            assert test_features is not None, "a test -> train threshold needs the test features"
            return nearest(train_features, test_features[self.rows])[0]
        return leave_one_out(train_features)[self.rows]


def copy_audit(
    train: np.ndarray,
    test: np.ndarray,
    synthetic: np.ndarray,
    synthetic_labels: np.ndarray | None = None,
    class_names: list[str] | None = None,
    pairs: int = 16,
    seed: int = 0,
    reference: ThresholdReference | None = None,
) -> dict[str, Any]:
    """Copy rate of synthetic vs train, thresholded by real test -> train distances (all of
    `test`'s rows unless `reference`, `ThresholdReference.of` the images, says otherwise)."""
    if not all(np.isfinite(part).all() for part in (train, test, synthetic)):
        # a NaN distance is never under the threshold: the copy rate would read 0.0
        raise ValueError("the copy audit needs finite features: NaN or inf found")
    if reference is None:
        reference = ThresholdReference(
            True, np.ones(len(test), bool), f"real test -> train (n={len(test)})"
        )
    test_distance, _ = nearest(train, test[reference.rows] if reference.from_test else test)
    threshold_distance = test_distance if reference.from_test else reference.distances(train)
    threshold = float(np.percentile(threshold_distance, THRESHOLD_PERCENTILE))
    distance, index = nearest(train, synthetic)
    copied = (distance < threshold).astype(np.float64)
    result: dict[str, Any] = {
        "copy_rate": float(copied.mean()),
        "ci95": bootstrap_mean_ci(copied, seed=seed),
        "threshold": threshold,
        "threshold_rule": f"{THRESHOLD_PERCENTILE:g}th percentile of {reference.rule}",
        "threshold_note": reference.note,
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "n_synthetic": int(len(synthetic)),
        "synthetic_to_train": _summary(distance),
        "test_to_train": _summary(test_distance),
        "threshold_from": _summary(threshold_distance),
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
    reference = ThresholdReference.of(inputs.train.images, inputs.test.images)
    entry = {}
    for space, (train, test, synthetic) in spaces.items():
        entry[space] = _named_audit(inputs, space, (train, test, synthetic), reference)
        entry[space]["test_identical_to_train"] = reference.test_identical
    return entry


def _named_audit(
    inputs: MetricInputs,
    space: str,
    sets: tuple[np.ndarray, np.ndarray, np.ndarray],
    reference: ThresholdReference,
) -> dict[str, Any]:
    """copy_audit of (train, test, synthetic) features with ids beside the row numbers, and its
    closest-pairs PNG under `{figures_prefix}closest-pairs-{space}.png` when figures_dir is set."""
    labels, names = inputs.synthetic_labels, inputs.class_names
    audit = copy_audit(*sets, labels, names, seed=inputs.seed, reference=reference)
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
