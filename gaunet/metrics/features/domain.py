"""Domain features: a small CNN trained on the real training split only, penultimate layer.

ImageNet networks see a breast ultrasound as "some texture"; a classifier trained on the task's
own real training images has features that separate what matters here, and it also gives PA
(class fidelity). It never sees validation/test or synthetic images, so it cannot be tuned to the
generator. Training is seeded and the weights are cached on disk under $GAUNET_CACHE (default
~/.cache/gaunet)/domain/<key>.safetensors, where key hashes the training images, labels, class
names and settings: the same data and settings reuse one classifier; any change retrains.

On a GPU the network is initialised on the CPU under the seed and then moved, and the batch
order and flips come from the same NumPy generator, so it starts and trains as on the CPU; cuDNN
kernels still round differently, so a GPU-trained classifier is cached under a key of its own
(the CPU key is unchanged) and never replaces the CPU one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gaunet.data.imageset import ImageSet
from gaunet.io import write_atomic
from gaunet.metrics.features import batched
from gaunet.progress import progress

CACHE_VERSION = "domain-cnn-3"


@dataclass(frozen=True)
class DomainSettings:
    """Short by default: seconds to a minute or two on a 2-core CPU at 32 px."""

    size: int = 32
    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    width: int = 32
    seed: int = 0


def cache_root() -> Path:
    """$GAUNET_CACHE, else ~/.cache/gaunet; with no home folder (a container's arbitrary user
    id) a folder in the temporary directory, not a crash."""
    from gaunet.data.cache import cache_home

    try:
        return cache_home()
    except (RuntimeError, KeyError, OSError):
        user = getattr(os, "getuid", lambda: 0)()  # no getuid on Windows
        return Path(tempfile.gettempdir()) / f"gaunet-cache-{user}"


def to_input(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, C, H, W) -> float32 grey (N, 1, size, size) in [-1, 1].

    Grey because the class evidence in these modalities is in intensity and shape; it also lets
    grey real and RGB synthetic sets (or the reverse) meet in one classifier.
    """
    import cv2

    grey = images.astype(np.float32).mean(1)
    if grey.shape[1:] != (size, size):
        shrinking = grey.shape[1] >= size
        method = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
        grey = np.stack([cv2.resize(im, (size, size), interpolation=method) for im in grey])
    return (grey[:, None] / 127.5 - 1.0).astype(np.float32)


def build_network(num_classes: int, width: int) -> Any:
    from torch import nn

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]

    body = nn.Sequential(
        *block(1, width),
        *block(width, 2 * width),
        *block(2 * width, 4 * width),
        nn.Conv2d(4 * width, 4 * width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    return nn.ModuleDict({"body": body, "head": nn.Linear(4 * width, num_classes)})


def training_key(train: ImageSet, settings: DomainSettings, device: str = "cpu") -> str:
    """The cache key: training images, labels, class names and settings; the device type too
    when it is not the CPU (a GPU-trained network differs in rounding)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(train.images).tobytes())
    digest.update(np.asarray(train.labels, dtype=np.int64).tobytes())
    digest.update(json.dumps([CACHE_VERSION, train.class_names, asdict(settings)]).encode())
    kind = _device_type(device)
    if kind != "cpu":
        digest.update(kind.encode())
    return digest.hexdigest()[:24]


def _device_type(device: Any) -> str:
    """cpu, cuda, ... of a device or its name ('cuda:1' -> 'cuda')."""
    return str(getattr(device, "type", device)).split(":")[0]


def train_network(
    train: ImageSet, settings: DomainSettings, device: Any = "cpu"
) -> tuple[Any, dict[str, Any]]:
    """Seeded training with class-balanced loss and random flips; returns (network on
    `device`, log). Initialisation, batch order and flips are drawn on the CPU (see above)."""
    import torch

    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    x = torch.from_numpy(to_input(train.images, settings.size)).to(device)
    y = torch.from_numpy(np.asarray(train.labels, dtype=np.int64)).to(device)
    counts = np.bincount(train.labels, minlength=train.num_classes).astype(np.float64)
    weights = torch.tensor(len(y) / np.maximum(counts, 1) / train.num_classes, dtype=torch.float32)
    net = build_network(train.num_classes, settings.width).to(device)
    weights = weights.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    net.train()
    last_loss = float("nan")
    order = np.zeros(0, dtype=np.int64)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # measured: this small net steps 4x faster on 1 thread on 2 busy cores
    try:
        done = 0
        with progress(total=settings.steps, desc="domain classifier", unit="step") as bar:
            for _ in range(settings.steps):
                if len(order) < 2:  # steps, not epochs: tiny sets still get enough updates
                    order = rng.permutation(len(y))
                index, order = order[: settings.batch_size], order[settings.batch_size :]
                flip = rng.random(len(index)) < 0.5
                # the batch's rows and flips in one copy, the loss read every 20 steps: on a
                # GPU each copy and read was a host sync, three a step
                both = torch.from_numpy(np.stack([index, flip.astype(np.int64)])).to(device)
                batch = x[both[0]]
                batch = torch.where(both[1].bool()[:, None, None, None], batch.flip(3), batch)
                loss = loss_fn(net["head"](net["body"](batch)), y[both[0]])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                last = loss.detach()
                bar.update(1)
                done += 1  # not bar.n: a disabled bar (GAUNET_NO_PROGRESS, logs) stays at 0
                if done % 20 == 0:
                    bar.set_postfix(loss=f"{float(last):.3f}")
            last_loss = float(last) if settings.steps else last_loss
        from gaunet.models.calibration import recalibrate_batchnorm

        recalibrate_batchnorm(net, x, settings.batch_size, forward=net["body"])
    finally:
        torch.set_num_threads(threads)
    net.eval()
    return net, {"final_loss": last_loss, "train_images": len(y)}


class DomainExtractor:
    """Callable: uint8 images -> penultimate features; `predict` gives class indices (PA)."""

    name = "domain"
    metric_name = "FD_domain"
    inference_batch = 256  # images per forward pass (a caller streaming images scores this many)

    def __init__(self, net: Any, settings: DomainSettings, class_names: list[str], info: dict):
        self.net = net
        self.settings = settings
        self.class_names = list(class_names)
        self.info = info
        self.dim = 4 * settings.width

    @classmethod
    def for_training_set(
        cls, train: ImageSet, settings: DomainSettings | None = None, device: str = "cpu"
    ) -> DomainExtractor:
        """Load the cached classifier for this training set and settings, or train it on
        `device` (auto: CUDA when available) and cache it."""
        from safetensors.torch import load_file, save

        from gaunet.device import resolve_device

        device = str(resolve_device(str(device)))
        settings = settings or DomainSettings()
        key = training_key(train, settings, device)
        path = cache_root() / "domain" / f"{key}.safetensors"
        net = build_network(train.num_classes, settings.width)
        if path.is_file():
            net.load_state_dict(load_file(str(path)))
            net.eval()
            info = {"cache": str(path), "cached": True}
        else:
            net, log = train_network(train, settings, device)
            path.parent.mkdir(parents=True, exist_ok=True)
            state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
            write_atomic(path, save(state))
            info = {"cache": str(path), "cached": False, **log}
        return cls(net.to(device), settings, train.class_names, {"key": key, **info})

    def _forward(self, images: np.ndarray, head: bool) -> np.ndarray:
        import torch

        device = next(self.net.parameters()).device
        with torch.inference_mode():
            x = torch.from_numpy(to_input(images, self.settings.size)).to(device)
            features = self.net["body"](x)
            out = self.net["head"](features).softmax(1) if head else features
        return out.cpu().numpy()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return batched(
            lambda b: self._forward(b, False), images, self.inference_batch, "domain features"
        )

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, num_classes) in the training set's class order."""
        return batched(
            lambda b: self._forward(b, True), images, self.inference_batch, "domain classifier"
        )

    def describe(self) -> dict[str, Any]:
        return {
            "network": "small CNN trained on the real train split, penultimate layer",
            "settings": asdict(self.settings),
            "classes": self.class_names,
            **self.info,
        }
