"""Loading a trained run for sampling: `TrainedGenerator` (the EMA generator with the run's
training images, ready to sample conditioned images), `load_generator` from a run folder or
checkpoint, and what a run records about itself (noise scale, held-out images, an unfinished
budget). Writing a synthetic dataset from it is gaunet/generate.py.

Reproducibility, by construction: the network only ever sees batches of GENERATION_CHUNK
images, and image k of class c is always row k % GENERATION_CHUNK of chunk k // GENERATION_CHUNK,
whose inputs depend only on (seed, c, the chunk's item numbers) and the checkpoint: each item's
noise comes from its own seeded generator and its conditioning image from a seeded permutation
of the class's training images. The thread count and the CPU are not fixed by it: they can move
a float in its 7th digit (docs/architecture.md).
"""

from __future__ import annotations

import csv
import hashlib
import json
import numbers
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from gaunet.config import MAX_SEED, TrainConfig
from gaunet.data import ImageSet
from gaunet.data.imageset import to_unit_tensor
from gaunet.device import resolve_device
from gaunet.errors import GaunetError, shorten
from gaunet.training.checkpoint import load_checkpoint
from gaunet.training.loss import build_family
from gaunet.training.run_folder import TRAIN_IMAGES, read_train_images, run_folder_of

# Images per forward pass, always: a fixed shape keeps CPU kernels (and their rounding) fixed.
GENERATION_CHUNK = 8
# float32 rounding a [-1, 1] image may carry past its ends (a resize, a normalisation)
UNIT_SLACK = 1e-3


def check_noise_scale(noise_scale: float) -> float:
    """A positive finite factor, or GaunetError."""
    value = float(noise_scale)
    if not np.isfinite(value) or value <= 0:
        raise GaunetError(f"noise scale must be a positive number, not {noise_scale!r}")
    return value


def item_seed(seed: int, class_index: int, k: int) -> int:
    return int(np.random.SeedSequence([seed, class_index, k]).generate_state(1)[0])


def opaque_id(source_id: str) -> str:
    """A short stable hash of a training image's id: provenance without leaking file names."""
    return hashlib.sha256(source_id.encode()).hexdigest()[:12]


class TrainedGenerator:
    """A trained generator with its training images, ready to sample conditioned images."""

    def __init__(
        self,
        state: dict,
        checkpoint: Path,
        sha256: str,
        device: torch.device,
        use_ema: bool,
        noise_scale: float = 1.0,
    ) -> None:
        self.config = _recorded_config(state, checkpoint)
        # every noise vector is multiplied by this before the network sees it (1: as trained).
        # A GAU-Net generator trained on a few hundred images answers its noise weakly but
        # smoothly: a larger factor spreads the draws of one conditioning image
        # (docs/augmentation.md, "Noise scale").
        self.noise_scale = check_noise_scale(noise_scale)
        self.class_names: list[str] = list(state["class_names"])
        self.size, self.channels = self.config.size, self.config.channels
        self.model_name = self.config.model
        self.checkpoint, self.checkpoint_sha256 = checkpoint, sha256
        self.step = int(state["step"])
        self.device = device
        self.family = build_family(self.config, len(self.class_names))
        self.network, _ = self.family.build()
        try:  # weights its recorded config does not build (another gaunet's layers)
            self.network.load_state_dict(state["ema" if use_ema else "generator"])
        except RuntimeError as error:
            raise GaunetError(
                f"{checkpoint}: its weights do not fit the network its config builds (written "
                f"by another gaunet version?): {shorten(str(error), 200)}"
            ) from None
        self.network.to(device).eval().requires_grad_(False)
        self._train: ImageSet | None = None
        self._last_chunk: tuple[tuple[int, int, int], torch.Tensor] | None = None

    @property
    def train_images(self) -> ImageSet:
        """The run's training rows: the only images used as conditioning."""
        if self._train is None:
            path = self.checkpoint.parent.parent / TRAIN_IMAGES
            if not path.exists():
                raise GaunetError(
                    f"{path}: missing, so there are no conditioning images; keep the checkpoint "
                    f"inside its run folder, beside {TRAIN_IMAGES} (from Python, sample() also "
                    "takes conditioning=)"
                )
            self._train = self._own_images(read_train_images(path), path)
        return self._train

    def _own_images(self, train: ImageSet, path: Path) -> ImageSet:
        """`train`, or GaunetError when it is not this checkpoint's run's (another run's
        checkpoint put in its checkpoints/): its images would condition other classes under
        this generator's labels, or crash the network at another size."""
        shape = (self.channels, self.size, self.size)
        names = [str(name) for name in self.class_names]  # as train_images.npz stores them
        if list(train.class_names) != names or tuple(train.images.shape[1:]) != shape:
            raise GaunetError(
                f"{path}: its training images ({len(train.class_names)} classes "
                f"{list(train.class_names)}, {'x'.join(map(str, train.images.shape[1:]))}) are "
                f"not those {self.checkpoint} was trained on ({self.class_names}, "
                f"{'x'.join(map(str, shape))}): the checkpoint is another run's; sample it "
                "from its own run folder"
            )
        return train

    def conditioning_rows(self, class_index: int, n: int, seed: int, start: int = 0):
        """Rows of the training images conditioning items start..start+n-1 of a class."""
        members = np.flatnonzero(self.train_images.labels == class_index)
        if len(members) == 0:
            raise GaunetError(f"class {self.class_names[class_index]!r} has no training images")
        order = np.random.default_rng([seed, class_index]).permutation(members)
        return order[np.arange(start, start + n) % len(order)]

    def _noise(self, class_index: int, seed: int, items: range) -> torch.Tensor:
        """Each item's noise from its own seeded generator: independent of the batching."""
        cpu = torch.device("cpu")
        z = torch.cat(
            [
                self.family.noise(
                    1, cpu, torch.Generator().manual_seed(item_seed(seed, class_index, k))
                )
                for k in items
            ]
        )
        return z if self.noise_scale == 1.0 else z * self.noise_scale

    def _forward(self, class_index: int, conditioning: torch.Tensor, z: torch.Tensor):
        """One forward pass on exactly GENERATION_CHUNK rows; shorter inputs are padded by
        repeating their last row, and the extra outputs dropped."""
        n = len(conditioning)
        if n < GENERATION_CHUNK:
            pad = GENERATION_CHUNK - n
            conditioning = torch.cat([conditioning, conditioning[-1:].expand(pad, -1, -1, -1)])
            z = torch.cat([z, z[-1:].expand(pad, *z.shape[1:])])
        labels = torch.full((GENERATION_CHUNK,), class_index, dtype=torch.long, device=self.device)
        out = self.family.sample(
            self.network, conditioning.to(self.device), labels, z.to(self.device)
        )[:n].float()
        return out

    def _finite(self, images: torch.Tensor, class_index: int) -> torch.Tensor:
        """`images`, or GaunetError if any pixel is non-finite (it would be written black or
        white). Once per sample() call: on a GPU each check waits for the kernels before it."""
        if not torch.isfinite(images).all():
            raise GaunetError(
                f"the generator gave non-finite pixels for class {self.class_names[class_index]!r}"
                f" (noise scale {self.noise_scale:g}: too large for the network, or a diverged "
                "checkpoint); nothing usable to write"
            )
        return images

    def _chunk(self, class_index: int, seed: int, index: int) -> torch.Tensor:
        """Items index*CHUNK .. (index+1)*CHUNK-1 of a class, conditioned on its training
        images; the last chunk is kept, so consecutive calls inside one chunk run it once (with
        the noise scale it was drawn at: `gen.noise_scale` may be set between calls)."""
        key = (class_index, seed, index, self.noise_scale)
        if self._last_chunk is not None and self._last_chunk[0] == key:
            return self._last_chunk[1]
        first = index * GENERATION_CHUNK
        rows = self.conditioning_rows(class_index, GENERATION_CHUNK, seed, first)
        conditioning = to_unit_tensor(self.train_images.images[rows])
        z = self._noise(class_index, seed, range(first, first + GENERATION_CHUNK))
        images = self._forward(class_index, conditioning, z)
        self._last_chunk = (key, images)
        return images

    @torch.no_grad()
    def sample(
        self,
        class_index: int,
        n: int,
        seed: int = 0,
        conditioning: torch.Tensor | None = None,
        start: int = 0,
    ) -> torch.Tensor:
        """n images of `class_index`, float in [-1, 1], (n, C, H, W) on the generator's device.

        `conditioning` ((n, C, H, W) in [-1, 1]) replaces the training images the U-Net is
        conditioned on. `start` numbers the items, so consecutive calls continue a sequence:
        sample(c, 5, s)[2:] equals sample(c, 3, s, start=2) bit for bit.
        """
        class_index, n, seed, start = self._numbers(class_index, n, seed, start)
        if n < 1:
            return torch.empty(0, self.channels, self.size, self.size, device=self.device)
        if conditioning is not None:
            conditioning = _unit_images(conditioning, (n, self.channels, self.size, self.size))
            parts = []
            for first in range(0, n, GENERATION_CHUNK):
                last = min(first + GENERATION_CHUNK, n)
                z = self._noise(class_index, seed, range(start + first, start + last))
                parts.append(self._forward(class_index, conditioning[first:last], z))
            return self._finite(torch.cat(parts), class_index)
        first_chunk, last_chunk = start // GENERATION_CHUNK, (start + n - 1) // GENERATION_CHUNK
        images = torch.cat(
            [self._chunk(class_index, seed, j) for j in range(first_chunk, last_chunk + 1)]
        )
        offset = start - first_chunk * GENERATION_CHUNK
        return self._finite(images[offset : offset + n], class_index)

    def _numbers(self, class_index, n, seed, start) -> tuple[int, int, int, int]:
        """sample()'s numbers as ints, or GaunetError: a class name or a float reached numpy
        as a TypeError, and a seed past MAX_SEED is split by SeedSequence into two words, so
        (2**32 + s, class c, item 0) drew the noise of (s, class 1, item c)."""
        for name, value in (("class_index", class_index), ("n", n), ("seed", seed)):
            if not isinstance(value, numbers.Integral):
                raise GaunetError(
                    f"{name} must be a whole number, not {value!r}"
                    + " (a class's index is gen.class_names.index(name))" * (name == "class_index")
                )
        if not isinstance(start, numbers.Integral):
            raise GaunetError(f"start must be a whole number, not {start!r}")
        if not 0 <= class_index < len(self.class_names):
            raise GaunetError(
                f"class index {class_index} out of range 0..{len(self.class_names) - 1}"
            )
        if seed < 0 or start < 0 or n < 0:
            raise GaunetError(f"seed, start and n must be >= 0, not {seed=}, {start=}, {n=}")
        if seed > MAX_SEED:
            raise GaunetError(f"seed must be in 0..{MAX_SEED}, not {seed}")
        return int(class_index), int(n), int(seed), int(start)


def _unit_images(conditioning, shape: tuple[int, ...]) -> torch.Tensor:
    """`conditioning` as float32 of `shape` in [-1, 1], or GaunetError: uint8 0..255 images
    (as train_images holds them) were taken as floats and silently gave other images."""
    tensor = torch.as_tensor(conditioning)
    if not tensor.is_floating_point():
        raise GaunetError(
            f"conditioning is {str(tensor.dtype).removeprefix('torch.')}: give floats in "
            "[-1, 1] (gaunet.data.imageset.to_unit_tensor converts uint8 images)"
        )
    tensor = tensor.to(torch.float32)
    if tuple(tensor.shape) != shape:
        raise GaunetError(
            f"conditioning has shape {tuple(tensor.shape)}; n={shape[0]} needs {shape}"
        )
    if not torch.isfinite(tensor).all():
        raise GaunetError("conditioning has non-finite values; give floats in [-1, 1]")
    low, high = float(tensor.min()), float(tensor.max())
    if low < -1 - UNIT_SLACK or high > 1 + UNIT_SLACK:
        raise GaunetError(
            f"conditioning values span {low:g}..{high:g}, not [-1, 1] (0..255 images? "
            "gaunet.data.imageset.to_unit_tensor converts uint8 images)"
        )
    return tensor


def _recorded_config(state: dict, checkpoint: Path) -> TrainConfig:
    """The config the checkpoint recorded, or GaunetError naming what this gaunet cannot read
    (a field of a newer gaunet gave TypeError; no class names a KeyError)."""
    missing = [key for key in ("config", "class_names", "generator", "ema") if key not in state]
    if missing:
        raise GaunetError(f"{checkpoint}: not a generator checkpoint (no {', '.join(missing)})")
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(state["config"]) - known)
    if unknown:
        raise GaunetError(
            f"{checkpoint}: its config has field(s) this gaunet does not know "
            f"({', '.join(unknown)}): written by a newer gaunet; upgrade to sample it"
        )
    return TrainConfig(**state["config"])


def load_generator(
    run_or_checkpoint: str | Path,
    device: str | torch.device | None = None,
    use_ema: bool = True,
    noise_scale: float = 1.0,
) -> TrainedGenerator:
    """From a run folder or its checkpoints/ folder (the newest good checkpoint) or a checkpoint
    file; EMA weights unless `use_ema` is False; every noise vector multiplied by `noise_scale`
    (checked by TrainedGenerator)."""
    path = Path(run_or_checkpoint)
    if not path.exists():
        raise GaunetError(f"{path}: no such run folder or checkpoint")
    target = run_folder_of(path) / "checkpoints" if path.is_dir() else path  # RUN/checkpoints too
    device = resolve_device(str(device or "auto"))
    state, loaded, sha = load_checkpoint(target, map_location="cpu", fallback=path.is_dir())
    return TrainedGenerator(state, loaded, sha, device, use_ema, noise_scale)


def recorded_noise_scale(synthetic: str | Path) -> float | None:
    """The noise scale a `gaunet generate` folder (or its manifest/provenance CSV) records;
    None when it records none (another source, or written before the column existed) or
    mixes several."""
    path = Path(synthetic)
    if path.is_dir():
        path = next(
            (p for p in (path / "manifest.csv", path / "provenance.csv") if p.is_file()), path
        )
    if not path.is_file() or path.suffix != ".csv":
        return None
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            values = {row.get("noise_scale") for row in csv.DictReader(handle)}
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if len(values) != 1 or None in values:
        return None
    try:
        return check_noise_scale(float(values.pop()))
    except (GaunetError, ValueError):
        return None


def held_out_images(gen: TrainedGenerator) -> tuple[np.ndarray | None, str]:
    """The run's real test-split images (for the copy threshold), read back from its source
    and split.csv; (None, why) when the source is no longer readable."""
    from gaunet.data import apply_split, load_source

    run = gen.checkpoint.parent.parent
    # the absolute path the run recorded (train_images.npz): config.data is --data as typed, so
    # a relative one names another file (or none) from another working folder
    recorded = str(gen.train_images.info.get("source_path") or "")
    source = recorded if recorded and Path(recorded).exists() else gen.config.data
    if not source or not (run / "split.csv").exists():
        return None, "the run records no readable source or split.csv"
    try:
        data = load_source(source, size=gen.size, channels=gen.channels)
        test = apply_split(data, run / "split.csv").where_split("test")
    except (GaunetError, ValueError, OSError) as error:
        return None, f"test split unavailable ({shorten(str(error), 160)})"
    if len(test) < 2:
        return None, f"test split has {len(test)} image(s)"
    return test.images, ""


def undertrained_warning(gen: TrainedGenerator) -> str | None:
    """A line when the run stopped on its time budget below half of its step target."""
    info_path = gen.checkpoint.parent.parent / "run.json"
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    target = info.get("steps_target")
    if info.get("status") != "budget_exhausted" or not isinstance(target, int) or target <= 0:
        return None
    if gen.step * 2 >= target:
        return None
    run = gen.checkpoint.parent.parent
    return (
        f"the generator trained {gen.step} of {target} steps (its --minutes budget ran out); "
        f"train longer with `gaunet train --out {run} --resume --steps {target}`"
    )
