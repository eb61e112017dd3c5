"""Training one network classifier: Adam as in the paper, best-validation-loss selection.

Model selection uses the real-only validation split: after each epoch the validation loss
(or, with select="auc", the validation AUC) is measured, the best weights are kept in memory,
and training stops after `patience` epochs without improvement. With very few images the
validation loss is often lowest after one or two epochs, before the network has learned more
than the class prior (see docs/downstream.md); select="auc" avoids that. BatchNorm statistics
are recomputed over the training images before each validation (models/calibration.py): with
2-5 batches per epoch the running averages lag the weights and eval mode collapses to one class. The classic arm
augments each training batch on the fly.

On a GPU (`device`), pairing holds by construction: the caller builds and initialises the
network on the CPU under the seed and fit_network moves it; the batch order and the classic
augmentation's parameters are drawn from a CPU generator and only the indexed batch lives on
the device. So every arm of one seed starts from the same weights on any device, and arms of
one training set size and augmentation setting see the same batches (classic augmentation
draws from the batch order's generator, so `classic` and `none` share only the first epoch's
order); CPU results are bit-identical to a run without `device`. cuDNN kernels are not
bit-reproducible, so GPU numbers agree with CPU ones within the spread over seeds, not exactly.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gaunet.data.imageset import to_unit_tensor
from gaunet.downstream.augment import classic_augment
from gaunet.downstream.stats import auc_score
from gaunet.errors import GaunetError
from gaunet.models.calibration import recalibrate_batchnorm

RECALIBRATION_BATCH = 256


@dataclass
class FitSettings:
    """Optimiser and schedule; defaults follow the paper (Adam, lr 1e-3, betas 0.9/0.99)."""

    epochs: int = 30
    patience: int = 8
    batch_size: int = 32
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.99
    select: str = "loss"


def model_device(model: nn.Module) -> torch.device:
    """Where the model's weights live (the CPU for a model without parameters)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _probabilities(model: nn.Module, x: torch.Tensor, batch_size: int) -> np.ndarray:
    """Softmax probabilities of uint8 images already on the model's device, each batch
    converted to the unit range as it runs (no float copy of the whole set)."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(to_unit_tensor(x[start : start + batch_size]))
            out.append(torch.softmax(logits.float(), 1).cpu().numpy())
    return np.concatenate(out)


def predict_proba(
    model: nn.Module,
    images: np.ndarray,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Softmax class probabilities (N, K) in eval mode, as numpy on the CPU. `device` moves the
    model there first; None keeps it where it is (the images follow the model)."""
    if device is not None:
        model.to(device)
    x = torch.from_numpy(np.ascontiguousarray(images)).to(model_device(model))
    return _probabilities(model, x, batch_size)


def _selection_auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The validation AUC (stats.auc_score); where the validation split lacks a class, the
    macro one-vs-rest AUC over the classes it has (auc_score's NaN would score every epoch
    alike and keep the first epoch's weights)."""
    auc = auc_score(labels, probabilities)
    if not np.isnan(auc):
        return auc
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    return float(
        np.mean([roc_auc_score(labels == c, probabilities[:, c]) for c in np.unique(labels)])
    )


def _val_score(model: nn.Module, x: torch.Tensor, labels: np.ndarray, select: str) -> float:
    """Lower is better: validation cross-entropy, or 1 - validation AUC. An epoch whose weights
    diverged (NaN probabilities) scores NaN under both, never the best: the AUC's scikit-learn
    call would raise on it and lose the earlier epochs' best weights."""
    probabilities = _probabilities(model, x, 256)
    if not np.isfinite(probabilities).all():
        return float("nan")
    if select == "auc":
        return 1.0 - _selection_auc(labels, probabilities)
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, 1e-12, None)).mean())


def _recalibrate(model: nn.Module, images: torch.Tensor) -> None:
    """Exact BatchNorm statistics over `images` (uint8) in batches of 256. Where that leaves a
    last batch of one image and a BatchNorm sees a 1x1 map (a small --size), which cannot be
    normalised in train mode, the pass is made again in batches of 255 (every other case keeps
    its batches of 256 and its numbers)."""

    def forward(batch: torch.Tensor) -> torch.Tensor:
        return model(to_unit_tensor(batch))

    try:
        recalibrate_batchnorm(model, images, RECALIBRATION_BATCH, forward)
    except ValueError:
        if len(images) % RECALIBRATION_BATCH != 1 or len(images) == 1:
            raise
        recalibrate_batchnorm(model, images, RECALIBRATION_BATCH - 1, forward)


def _weights(sample_weight: np.ndarray | None, n: int) -> torch.Tensor:
    """One non-negative loss weight per training image (all 1 without `sample_weight`)."""
    weights = (
        torch.ones(n)
        if sample_weight is None
        else torch.as_tensor(np.asarray(sample_weight, dtype=np.float32))
    )
    if len(weights) != n or not bool((weights >= 0).all()):
        raise GaunetError("sample_weight needs one non-negative weight per training image")
    return weights


def _per_image_loss(
    logits: torch.Tensor, labels: torch.Tensor, smoothing: torch.Tensor | None
) -> torch.Tensor:
    """Cross-entropy per image; with `smoothing` (one value per image), the target puts
    1 - s on the label and s spread over all classes (label smoothing, Szegedy et al. 2016)."""
    nll = nn.functional.cross_entropy(logits, labels, reduction="none")
    if smoothing is None:
        return nll
    uniform = -torch.log_softmax(logits, 1).mean(1)
    return (1 - smoothing) * nll + smoothing * uniform


def _turns(rotation: np.ndarray | None, n: int) -> list[torch.Tensor | None]:
    """The training rows of each epoch in a cycle: [None] (every row, every epoch, nothing
    copied), or (with `rotation`) the rows marked -1 plus those of draw d in the d-th epoch."""
    if rotation is None:
        return [None]
    rotation = np.asarray(rotation)
    integer = np.issubdtype(rotation.dtype, np.integer)
    if len(rotation) != n or not integer or (n and rotation.min() < -1):
        raise GaunetError("rotation needs one integer >= -1 per training image")
    always = rotation == -1
    draws = int(rotation.max()) + 1 if n else 0
    if draws < 1:
        return [None]
    return [torch.from_numpy(np.flatnonzero(always | (rotation == d))) for d in range(draws)]


def _train_epoch(
    model: nn.Module,
    data: tuple[torch.Tensor, ...],
    optimiser: torch.optim.Optimizer,
    batch_size: int,
    generator: torch.Generator,
    augment: bool,
    zero_weights: bool = False,
) -> None:
    """One pass over the shuffled training images; a batch's loss is the weighted mean. With
    `zero_weights` (some weights are 0), a batch whose weights are all 0 has no loss and takes
    no step: Adam would still move the weights along its momentum."""
    x_all, y_all, w_all, s_all = data
    model.train()
    order = torch.randperm(len(x_all), generator=generator)  # on the CPU, as the generator
    on_device = order.to(x_all.device)  # one copy an epoch, not a host sync a batch
    # which batches weigh nothing, read on the CPU: one copy an epoch, no host sync a batch
    weighed = (w_all.cpu() > 0) if zero_weights else None
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        if len(index) < 2 and len(order) > 1:
            continue  # BatchNorm cannot train on a batch of one
        skip = weighed is not None and not bool(weighed[index].any())
        index = on_device[start : start + batch_size]
        x = to_unit_tensor(x_all[index])  # the images stay uint8 on the device: 4x smaller
        if augment:
            x = classic_augment(x, generator)  # drawn even for a skipped batch: pairing
        if skip:
            continue
        w = w_all[index]
        optimiser.zero_grad(set_to_none=True)
        per_image = _per_image_loss(model(x), y_all[index], None if s_all is None else s_all[index])
        loss = (per_image * w).sum() / w.sum().clamp_min(1e-12)
        loss.backward()
        optimiser.step()


def fit_network(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    val_images: np.ndarray,
    val_labels: np.ndarray,
    settings: FitSettings,
    seed: int,
    augment: bool = False,
    sample_weight: np.ndarray | None = None,
    smoothing: np.ndarray | None = None,
    rotation: np.ndarray | None = None,
    device: str | torch.device | None = None,
) -> dict:
    """Train in place and load the best-validation-loss weights; returns what happened.

    `sample_weight` (one per training image) scales each image's loss, e.g. below 1 for
    synthetic images; a batch's loss is the weighted mean. `smoothing` (one value in [0, 1)
    per training image) softens that image's target, e.g. only for synthetic images.
    `rotation` (one integer per training image) makes images take turns: -1 trains every
    epoch, d >= 0 only in epochs e with (e - 1) mod K == d, K = the largest d + 1 (a new
    noise draw of each synthetic image every epoch).

    `device` moves the model (built and initialised on the CPU by the caller) and, once, the
    training and validation images there; None keeps the model where it is. The batch order
    and augmentation stay on a CPU generator seeded with `seed` (see the module docstring)."""
    if settings.select not in ("loss", "auc"):
        raise GaunetError(f"model selection {settings.select!r}: use loss or auc")
    present = np.unique(np.asarray(val_labels))
    if settings.select == "auc" and len(present) < 2:
        raise GaunetError(
            f"--select auc needs validation images of two or more classes; the validation "
            f"split has {len(val_labels)} image(s), of class(es) {present.tolist()}: "
            f"use --select loss"
        )
    if device is not None:
        model.to(device)
    where = model_device(model)
    generator = torch.Generator().manual_seed(seed)  # CPU: the same batches on every device
    optimiser = torch.optim.Adam(
        model.parameters(), lr=settings.lr, betas=(float(settings.beta1), float(settings.beta2))
    )
    # uint8 on the device, converted a batch at a time (the same floats: to_unit_tensor is
    # elementwise): float32 copies of 5,000 + 5,000 images at 3x256x256 held 7.9 GB a process
    x_all = torch.from_numpy(np.ascontiguousarray(images))
    y_all = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    smooth = None
    if smoothing is not None and np.any(smoothing):
        smooth = torch.as_tensor(np.asarray(smoothing, dtype=np.float32))
        if len(smooth) != len(y_all) or not bool(((smooth >= 0) & (smooth < 1)).all()):
            raise GaunetError("smoothing needs one value in [0, 1) per training image")
    weights = _weights(sample_weight, len(y_all))
    zero_weights = bool((weights == 0).any())
    data = tuple(None if t is None else t.to(where) for t in (x_all, y_all, weights, smooth))
    val_x = torch.from_numpy(np.ascontiguousarray(val_images)).to(where)  # uint8, as x_all
    turns = [None if t is None else t.to(where) for t in _turns(rotation, len(y_all))]
    best_score, best_state, best_epoch, epochs_run = float("inf"), None, 0, 0
    started = time.perf_counter()
    for epoch in range(1, settings.epochs + 1):
        rows = turns[(epoch - 1) % len(turns)]
        epoch_data = data if rows is None else tuple(None if t is None else t[rows] for t in data)
        _train_epoch(
            model, epoch_data, optimiser, settings.batch_size, generator, augment, zero_weights
        )
        epochs_run = epoch
        _recalibrate(model, epoch_data[0])
        score = _val_score(model, val_x, val_labels, settings.select)
        if score < best_score:
            best_score, best_epoch = score, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= settings.patience:
            break
    if best_state is None:  # every epoch NaN: the test set's metrics would fail in scikit-learn
        raise GaunetError(
            f"the network diverged: its validation {settings.select} was NaN in each of "
            f"{epochs_run} epoch(s); lower --lr"
        )
    model.load_state_dict(best_state)
    return {
        "epochs_run": epochs_run,
        "best_epoch": best_epoch,
        f"best_val_{settings.select}": best_score if settings.select == "loss" else 1 - best_score,
        "train_seconds": time.perf_counter() - started,
        "device": str(where),
    }
