"""One benchmark cell: a classifier trained with one arm's extra images on one fraction subset
under one seed, and its test metrics (`Grid.run_cell`), with the arms' image sets: plain copies
of the real images (the `copies` control), classic-augmented copies for the SVM, and which noise
draw a synthetic image is. The grid around the cells (settings, resuming, reports) is
benchmark.py.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import torch

from gaunet.data import ImageSet
from gaunet.data.imageset import to_unit_tensor
from gaunet.data.splits import empty_split_cause
from gaunet.device import resolve_device
from gaunet.downstream.arms import MORE_REAL, TYPICAL_COPIES, Arm, per_class_targets
from gaunet.downstream.augment import classic_augment
from gaunet.downstream.classifiers import (
    NETWORKS,
    SVM_C_GRID,
    SvmClassifier,
    build_network,
    frozen_features,
)
from gaunet.downstream.fit import fit_network, predict_proba
from gaunet.downstream.generator_arms import GeneratorArms
from gaunet.downstream.stats import METRICS, classification_metrics
from gaunet.downstream.subsets import nested_subsets, rows_after_subset
from gaunet.errors import GaunetError
from gaunet.hashing import array_digest

if TYPE_CHECKING:
    from gaunet.downstream.benchmark import BenchmarkSettings


def draw_index(labels: np.ndarray, draws: int) -> np.ndarray:
    """Which of `draws` draws each synthetic image is: of a class's images in generation order,
    the first share is draw 0, the next draw 1, and so on (a generator arm's images come as
    `draws` x the wanted count per class, conditioning images cycling in the same order)."""
    index = np.zeros(len(labels), np.int64)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        index[rows] = np.arange(len(rows)) * draws // len(rows)
    return index


def _copy_index(labels: np.ndarray, ratio: float) -> np.ndarray:
    """ratio x n_c rows per class, cycling the class's images in order."""
    wanted = per_class_targets(labels, int(labels.max()) + 1, ratio)
    return np.concatenate(
        [np.resize(np.flatnonzero(labels == c), n) for c, n in enumerate(wanted) if n > 0]
        or [np.zeros(0, np.int64)]
    )


def real_copies(images: np.ndarray, labels: np.ndarray, ratio: float) -> tuple:
    """The `copies` control arm: as many extra images per class as a generator would give,
    each an unchanged copy of a real training image."""
    index = _copy_index(labels, ratio)
    return images[index], labels[index]


def _classic_copies(images: np.ndarray, labels: np.ndarray, ratio: float, seed: int) -> tuple:
    """For the SVM (no epochs): ratio x n_c augmented copies per class, cycling the originals."""
    generator = torch.Generator().manual_seed(seed)
    index = _copy_index(labels, ratio)
    if not len(index):
        return images[:0], labels[:0]
    augmented = classic_augment(to_unit_tensor(images[index]), generator)
    uint8 = ((augmented + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    return uint8, labels[index]


class Grid:
    """Runs the cells of one benchmark folder; holds the data, subsets and generator arms."""

    def __init__(self, data: ImageSet, settings: BenchmarkSettings, arms_helper: GeneratorArms):
        self.settings = settings
        if data.num_classes < 2:  # every classifier failed in its first cell, in a traceback
            raise GaunetError(
                f"{settings.data} has {data.num_classes} usable class(es) "
                f"({', '.join(data.class_names) or 'none'}); a benchmark needs two or more"
            )
        self.train = data.where_split("train")
        self.val = data.where_split("val")
        self.test = data.where_split("test")
        if len(self.train) == 0:  # (empty subsets: a network "trained" on no image was a cell)
            raise GaunetError(f"{settings.data}: the split has no training images")
        if len(self.val) == 0 or len(self.test) == 0:
            cause = empty_split_cause(data.split, data.groups, data.labels, settings.split_seed)
            raise GaunetError(
                f"{settings.data}: the split has no validation or no test images"
                + (f": {cause}" if cause else "")
            )
        self.subsets = nested_subsets(
            self.train.labels, settings.fractions, seed=settings.subset_seed
        )
        self._check_extra_images(settings)
        self.arms_helper = arms_helper
        self.feature_cache: dict[str, np.ndarray] = {}
        self.svm_probabilities: dict[str, np.ndarray] = {}  # by a digest of the fit's inputs
        self.device = resolve_device(settings.device)

    def _check_extra_images(self, settings: BenchmarkSettings) -> None:
        """An arm that adds images must add some at every fraction: a --synthetic-ratio that
        rounds every class's count to 0 failed only after its generator had trained, and made
        `copies` a W row identical to W/O without a word."""
        if all(arm in ("none", "classic") for arm in settings.arms):
            return
        for fraction, rows in self.subsets.items():
            labels = self.train.labels[rows]
            if not per_class_targets(
                labels, self.train.num_classes, settings.synthetic_ratio
            ).any():
                raise GaunetError(
                    f"--synthetic-ratio {settings.synthetic_ratio:g} adds no image at fraction "
                    f"{fraction:g} ({len(rows)} training images; each class's count x the ratio "
                    "rounds to 0): give a larger ratio or fraction"
                )

    def _svm(self, classifier: str, x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
        """The SVM's test probabilities. It draws nothing, so images it was fitted to before in
        this process (another seed of an arm without classic augmentation: 27 of 30 SVM cells
        under --protocol paper, minutes each at 256 px) give the probabilities of that fit. The
        key is the uint8 images and labels (the features are a function of them; val and test
        are this Grid's), so no feature array is made for a cell answered from it."""
        key = f"{classifier}:{array_digest(x, y, np.array(SVM_C_GRID))}"
        if key not in self.svm_probabilities:
            train = self._features(x, classifier)
            val = self._features(self.val.images, classifier, "val")
            svm = SvmClassifier(seed)
            svm.fit(train, y, val, self.val.labels, self.train.num_classes)
            del train  # the pixel SVM's features: the training set as float, before the test's
            test = self._features(self.test.images, classifier, "test")
            self.svm_probabilities[key] = svm.predict_proba(test)
        return self.svm_probabilities[key]

    def cell_device(self, classifier: str) -> torch.device:
        """Where a cell of `classifier` computes: the SVM on pixels is scikit-learn's (CPU)."""
        return torch.device("cpu") if classifier == "svm" else self.device

    def subset(self, fraction: float) -> ImageSet:
        subset = self.train.subset(self.subsets[fraction])
        subset.split = np.full(len(subset), "train")
        return subset

    def more_real_rows(self, fraction: float) -> np.ndarray:
        """Training-split rows outside the fraction subset, as many per class as a generator
        arm adds (never validation or test rows)."""
        labels = self.train.labels[self.subsets[fraction]]
        wanted = per_class_targets(labels, self.train.num_classes, self.settings.synthetic_ratio)
        return rows_after_subset(
            self.train.labels, fraction, wanted, seed=self.settings.subset_seed
        )

    def _features(self, images: np.ndarray, classifier: str, cache_as: str = "") -> np.ndarray:
        """SVM inputs: flattened pixels in [0, 1], or frozen EfficientNet-Lite0 features."""
        if classifier == "svm":
            return images.reshape(len(images), -1).astype(np.float32) / 255.0
        if not cache_as:
            return frozen_features(images, device=self.device)
        if cache_as not in self.feature_cache:
            self.feature_cache[cache_as] = frozen_features(images, device=self.device)
        return self.feature_cache[cache_as]

    def _fit_network(self, classifier: str, arm: Arm, real: tuple, extra: tuple, seed: int):
        """A network trained on the real images and the arm's extra ones, as the synthetic
        weight, smoothing and schedule say; returns (model, fit info). The network is built
        (initialised) on the CPU, then fit_network moves it to the device: the same seed gives
        the same weights on every device."""
        s = self.settings
        model = build_network(
            classifier, self.train.channels, self.train.num_classes, s.size, s.width
        )
        device = self.device
        kinds = ("generator", "run", "copies", TYPICAL_COPIES, MORE_REAL)
        synthetic = arm.kind in kinds and len(extra[0]) > 0
        val = (self.val.images, self.val.labels)
        if synthetic and s.synthetic_schedule == "pretrain":
            first = fit_network(
                model, *extra, *val, s.fit, seed, augment=arm.classic, device=device
            )
            info = fit_network(model, *real, *val, s.fit, seed, augment=arm.classic, device=device)
            info["epochs_run"] += first["epochs_run"]
            return model, info
        n_real, n_extra = len(real[1]), len(extra[1])
        weights = smoothing = None
        if synthetic and s.synthetic_weight != 1.0:
            weights = np.concatenate([np.ones(n_real), np.full(n_extra, s.synthetic_weight)])
        if synthetic and s.synthetic_smoothing > 0:
            smoothing = np.concatenate([np.zeros(n_real), np.full(n_extra, s.synthetic_smoothing)])
        rotation = None
        if arm.kind in ("generator", "run") and n_extra and s.synthetic_draws > 1:
            drawn = draw_index(extra[1], s.synthetic_draws)
            rotation = np.concatenate([np.full(n_real, -1), drawn])
        images, labels = np.concatenate([real[0], extra[0]]), np.concatenate([real[1], extra[1]])
        info = fit_network(
            model, images, labels, *val, s.fit, seed, augment=arm.classic,
            sample_weight=weights, smoothing=smoothing, rotation=rotation, device=device,
        )  # fmt: skip
        return model, info

    def run_cell(self, classifier: str, arm: Arm, fraction: float, seed: int) -> list[dict]:
        s = self.settings
        subset = self.subset(fraction)
        x, y = subset.images, subset.labels
        extra_x, extra_y = x[:0], y[:0]
        if arm.kind in ("generator", "run"):
            extra_x, extra_y, _ = self.arms_helper.extra_images(arm, fraction, subset)
            if s.synthetic_draws > 1 and classifier not in NETWORKS:  # no epochs: one draw
                first = draw_index(extra_y, s.synthetic_draws) == 0
                extra_x, extra_y = extra_x[first], extra_y[first]
        elif arm.kind == "copies":
            extra_x, extra_y = real_copies(x, y, s.synthetic_ratio)
        elif arm.kind == TYPICAL_COPIES:
            extra_x, extra_y = self.arms_helper.typical_copies(fraction, subset)
        elif arm.kind == MORE_REAL:
            extra = self.train.subset(self.more_real_rows(fraction))
            extra_x, extra_y = extra.images, extra.labels
        if arm.classic and classifier not in NETWORKS:  # the SVM has no epochs: add copies
            copies_x, copies_y = _classic_copies(x, y, s.synthetic_ratio, seed)
            extra_x, extra_y = (
                np.concatenate([extra_x, copies_x]),
                np.concatenate([extra_y, copies_y]),
            )
        train_x, train_y = np.concatenate([x, extra_x]), np.concatenate([y, extra_y])
        started = time.perf_counter()
        torch.manual_seed(seed)
        info: dict = {"epochs_run": "", "best_epoch": ""}
        if classifier in NETWORKS:
            model, info = self._fit_network(classifier, arm, (x, y), (extra_x, extra_y), seed)
            probabilities = predict_proba(model, self.test.images, device=self.device)
        else:
            probabilities = self._svm(classifier, train_x, train_y, seed)
        metrics = classification_metrics(self.test.labels, probabilities)
        seconds = time.perf_counter() - started
        return [
            {
                "classifier": classifier, "arm": arm.name, "fraction": f"{fraction:g}",
                "seed": seed, "metric": metric, "value": f"{metrics[metric]:.6f}",
                "n_real": len(x), "n_extra": len(extra_x), "epochs_run": info["epochs_run"],
                "best_epoch": info["best_epoch"], "seconds": f"{seconds:.1f}",
            }
            for metric in METRICS
        ]  # fmt: skip
