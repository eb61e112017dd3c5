"""Sampling from a trained run: `load_generator` for Python, `generate_dataset` for a synthetic
image folder (+ manifest.csv) that `load_source` reads back like any other SOURCE.

Reproducibility: image k of class c depends only on (seed, c, k) and the checkpoint: its noise
comes from its own seeded generator and its conditioning image from a seeded permutation of the
class's training images, so the batch size and the device's batching never change which image
is written.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from gaunet.config import TrainConfig
from gaunet.data import ImageSet
from gaunet.data.imageset import from_unit_range, to_unit_tensor
from gaunet.errors import GaunetError
from gaunet.models import build_family
from gaunet.privacy import CANDIDATE_FACTOR, CopyFilter, folder_names, inside
from gaunet.progress import progress
from gaunet.training.checkpoint import load_checkpoint
from gaunet.training.loop import resolve_device
from gaunet.training.run_folder import TRAIN_IMAGES, load_train_images

MANIFEST_COLUMNS = ["path", "label", "class", "source_id", "seed", "checkpoint_sha256"]


def _item_seed(seed: int, class_index: int, k: int) -> int:
    return int(np.random.SeedSequence([seed, class_index, k]).generate_state(1)[0])


def opaque_id(source_id: str) -> str:
    """A short stable hash of a training image's id: provenance without leaking file names."""
    return hashlib.sha256(source_id.encode()).hexdigest()[:12]


class TrainedGenerator:
    """A trained generator with its training images, ready to sample conditioned images."""

    def __init__(
        self, state: dict, checkpoint: Path, sha256: str, device: torch.device, use_ema: bool
    ) -> None:
        self.config = TrainConfig(**state["config"])
        self.class_names: list[str] = list(state["class_names"])
        self.size, self.channels = self.config.size, self.config.channels
        self.model_name = self.config.model
        self.checkpoint, self.checkpoint_sha256 = checkpoint, sha256
        self.step = int(state["step"])
        self.device = device
        self.family = build_family(self.config, len(self.class_names))
        self.network, _ = self.family.build()
        self.network.load_state_dict(state["ema" if use_ema else "generator"])
        self.network.to(device).eval().requires_grad_(False)
        self._train: ImageSet | None = None

    @property
    def train_images(self) -> ImageSet:
        """The run's training rows: the only images used as conditioning."""
        if self._train is None:
            path = self.checkpoint.parent.parent / TRAIN_IMAGES
            if not path.exists():
                raise GaunetError(
                    f"{path}: missing, so there are no conditioning images; keep the checkpoint "
                    "inside its run folder or pass conditioning= to sample()"
                )
            self._train = load_train_images(path)
        return self._train

    def conditioning_rows(self, class_index: int, n: int, seed: int, start: int = 0):
        """Rows of the training images conditioning items start..start+n-1 of a class."""
        members = np.flatnonzero(self.train_images.labels == class_index)
        if len(members) == 0:
            raise GaunetError(f"class {self.class_names[class_index]!r} has no training images")
        order = np.random.default_rng([seed, class_index]).permutation(members)
        return order[np.arange(start, start + n) % len(order)]

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
        conditioned on. `start` numbers the items, so consecutive calls continue a sequence.
        """
        if not 0 <= class_index < len(self.class_names):
            raise GaunetError(
                f"class index {class_index} out of range 0..{len(self.class_names) - 1}"
            )
        if conditioning is None:
            rows = self.conditioning_rows(class_index, n, seed, start)
            conditioning = to_unit_tensor(self.train_images.images[rows])
        z = torch.cat(
            [
                self.family.noise(
                    1,
                    torch.device("cpu"),
                    torch.Generator().manual_seed(_item_seed(seed, class_index, start + k)),
                )
                for k in range(n)
            ]
        )
        labels = torch.full((n,), class_index, dtype=torch.long, device=self.device)
        return self.family.sample(
            self.network, conditioning.to(self.device), labels, z.to(self.device)
        ).float()


def load_generator(
    run_or_checkpoint: str | Path, device: str | torch.device | None = None, use_ema: bool = True
) -> TrainedGenerator:
    """From a run folder (its newest good checkpoint) or a checkpoint file; EMA weights unless
    `use_ema` is False."""
    path = Path(run_or_checkpoint)
    if not path.exists():
        raise GaunetError(f"{path}: no such run folder or checkpoint")
    target = path / "checkpoints" if path.is_dir() else path
    device = resolve_device(str(device or "auto"))
    state, loaded, sha = load_checkpoint(target, map_location="cpu", fallback=path.is_dir())
    return TrainedGenerator(state, loaded, sha, device, use_ema)


def held_out_images(gen: TrainedGenerator) -> tuple[np.ndarray | None, str]:
    """The run's real test-split images (for the copy threshold), read back from its source
    and split.csv; (None, why) when the source is no longer readable."""
    from gaunet.data import apply_split, load_source

    run = gen.checkpoint.parent.parent
    if not gen.config.data or not (run / "split.csv").exists():
        return None, "the run records no readable source or split.csv"
    try:
        data = load_source(gen.config.data, size=gen.size, channels=gen.channels)
        test = apply_split(data, run / "split.csv").where_split("test")
    except (GaunetError, ValueError, OSError) as error:
        return None, f"test split unavailable ({str(error).splitlines()[0][:160]})"
    if len(test) < 2:
        return None, f"test split has {len(test)} image(s)"
    return test.images, ""


def generate_dataset(
    run: str | Path,
    out: str | Path,
    per_class: int,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    fmt: str = "png",
    batch_size: int = 64,
    device: str | torch.device | None = None,
    keep_source_names: bool = False,
    max_copy_rate: float | None = None,
) -> Path:
    """Write `per_class` images per class to out/<class>/<id>.png and out/manifest.csv (or, with
    fmt="npz", out/synthetic.npz in the MedMNIST layout with out/provenance.csv, whose `index`
    column replaces `path`); returns the manifest (provenance) path.

    `max_copy_rate` R drops candidates that are near-copies of training images (see
    gaunet.privacy) beyond R * per_class per class, draws replacements (up to
    CANDIDATE_FACTOR * per_class candidates per class) and writes out/copy_filter.json with the
    counts. File names keep the candidate number k, so image k still depends only on
    (seed, class, k)."""
    if fmt not in ("png", "npz"):
        raise GaunetError(f"format must be png or npz, not {fmt!r}")
    gen = load_generator(checkpoint or run, device=device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train = gen.train_images
    classes = [c for c in range(len(gen.class_names)) if (train.labels == c).any()]
    folders = folder_names(gen.class_names)
    copy_filter = None
    if max_copy_rate is not None:
        reference, note = held_out_images(gen)
        copy_filter = CopyFilter(train.images, max_copy_rate, reference, note)
    limit = per_class * (CANDIDATE_FACTOR if copy_filter else 1)
    rows_out, arrays, names, written = [], [], {}, {}
    bar = progress(total=per_class * len(classes), desc="generate", unit="img")
    for c in classes:
        name, start, accepted = gen.class_names[c], 0, 0
        while accepted < per_class and start < limit:
            n = min(batch_size, per_class - accepted, limit - start)
            images = from_unit_range(gen.sample(c, n, seed, start=start).cpu().numpy())
            sources = train.ids[gen.conditioning_rows(c, n, seed, start)]
            keep = copy_filter.keep(name, images, per_class) if copy_filter else [True] * n
            for k in np.flatnonzero(keep):
                item = f"{folders[c]}/{start + k:06d}.png" if fmt == "png" else f"{len(arrays)}"
                if fmt == "png":
                    _write_png(inside(out, item), images[k])
                source = str(sources[k])
                names[opaque_id(source)] = source
                rows_out.append(
                    [item, c, gen.class_names[c], opaque_id(source), seed, gen.checkpoint_sha256]
                )
                if fmt == "npz":
                    arrays.append(images[k])
            accepted += int(np.count_nonzero(keep))
            start += n
            bar.update(int(np.count_nonzero(keep)))
        written[name] = accepted
    bar.close()
    if copy_filter:
        report = copy_filter.report(written)
        (out / "copy_filter.json").write_text(json.dumps(report, indent=2) + "\n")
        if not rows_out:
            raise GaunetError(
                f"every candidate was a near-copy of a training image ({report['dropped']} "
                f"dropped); nothing written. The generator memorises its training images."
            )
    if fmt == "npz":
        stack = np.stack(arrays).transpose(0, 2, 3, 1)
        labels = np.asarray([r[1] for r in rows_out], dtype=np.int64)[:, None]
        if gen.channels == 1:
            stack = stack[..., 0]
        np.savez_compressed(out / "synthetic.npz", train_images=stack, train_labels=labels)
    manifest = out / ("manifest.csv" if fmt == "png" else "provenance.csv")
    with open(manifest, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS if fmt == "png" else ["index", *MANIFEST_COLUMNS[1:]])
        writer.writerows(rows_out)
    if keep_source_names:
        with open(out / "source_ids.csv", "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["source_id", "train_id"])
            writer.writerows(sorted(names.items()))
    return manifest


def _write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    array = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    Image.fromarray(array).save(path)
