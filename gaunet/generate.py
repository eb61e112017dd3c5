"""Sampling from a trained run: `load_generator` for Python, `generate_dataset` for a synthetic
image folder (+ manifest.csv) that `load_source` reads back like any other SOURCE.

Reproducibility, by construction: the network only ever sees batches of GENERATION_CHUNK
images, and image k of class c is always row k % GENERATION_CHUNK of chunk k // GENERATION_CHUNK,
whose inputs depend only on (seed, c, the chunk's item numbers) and the checkpoint: each item's
noise comes from its own seeded generator and its conditioning image from a seeded permutation
of the class's training images. So neither the batch size asked for nor where an image falls in
a call changes which tensor the network is given, and CPU libraries that pick other kernels for
other batch shapes (oneDNN with AMX) cannot change the files written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from gaunet.config import TrainConfig
from gaunet.data import ImageSet
from gaunet.data.imageset import from_unit_range, to_unit_tensor
from gaunet.device import resolve_device
from gaunet.errors import GaunetError, GaunetWarning, os_error, shorten, writable_folder
from gaunet.io import write_atomic, write_json, write_npz
from gaunet.locking import folder_lock
from gaunet.privacy import CANDIDATE_FACTOR, CopyFilter, folder_names, inside
from gaunet.progress import progress
from gaunet.training.api import read_train_images
from gaunet.training.checkpoint import load_checkpoint
from gaunet.training.loss import build_family
from gaunet.training.run_folder import TRAIN_IMAGES

# `folder`: the class's folder under the output, which may differ from its name (see
# gaunet.privacy.folder_names). `noise_scale`: the factor every noise vector was multiplied by.
# New columns go last, so readers of the first ones keep working.
MANIFEST_COLUMNS = [
    "path", "label", "class", "source_id", "seed", "checkpoint_sha256", "folder", "noise_scale",
]  # fmt: skip
PROVENANCE_COLUMNS = [
    "index", "label", "class", "source_id", "seed", "checkpoint_sha256", "noise_scale",
]  # fmt: skip
# Images per forward pass, always: a fixed shape keeps CPU kernels (and their rounding) fixed.
GENERATION_CHUNK = 8


def check_noise_scale(noise_scale: float) -> float:
    """A positive finite factor, or GaunetError."""
    value = float(noise_scale)
    if not np.isfinite(value) or value <= 0:
        raise GaunetError(f"noise scale must be a positive number, not {noise_scale!r}")
    return value


def _item_seed(seed: int, class_index: int, k: int) -> int:
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
        self.config = TrainConfig(**state["config"])
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
        self.network.load_state_dict(state["ema" if use_ema else "generator"])
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
                    "inside its run folder or pass conditioning= to sample()"
                )
            self._train = read_train_images(path)
        return self._train

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
                    1, cpu, torch.Generator().manual_seed(_item_seed(seed, class_index, k))
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
        )
        return out[:n].float()

    def _chunk(self, class_index: int, seed: int, index: int) -> torch.Tensor:
        """Items index*CHUNK .. (index+1)*CHUNK-1 of a class, conditioned on its training
        images; the last chunk is kept, so consecutive calls inside one chunk run it once."""
        key = (class_index, seed, index)
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
        if not 0 <= class_index < len(self.class_names):
            raise GaunetError(
                f"class index {class_index} out of range 0..{len(self.class_names) - 1}"
            )
        if n < 1:
            return torch.empty(0, self.channels, self.size, self.size, device=self.device)
        if conditioning is not None:
            if len(conditioning) != n:
                raise GaunetError(f"conditioning has {len(conditioning)} images for n={n}")
            parts = []
            for first in range(0, n, GENERATION_CHUNK):
                last = min(first + GENERATION_CHUNK, n)
                z = self._noise(class_index, seed, range(start + first, start + last))
                parts.append(self._forward(class_index, conditioning[first:last], z))
            return torch.cat(parts)
        first_chunk, last_chunk = start // GENERATION_CHUNK, (start + n - 1) // GENERATION_CHUNK
        images = torch.cat(
            [self._chunk(class_index, seed, j) for j in range(first_chunk, last_chunk + 1)]
        )
        offset = start - first_chunk * GENERATION_CHUNK
        return images[offset : offset + n]


def load_generator(
    run_or_checkpoint: str | Path,
    device: str | torch.device | None = None,
    use_ema: bool = True,
    noise_scale: float = 1.0,
) -> TrainedGenerator:
    """From a run folder (its newest good checkpoint) or a checkpoint file; EMA weights unless
    `use_ema` is False; every noise vector multiplied by `noise_scale` (checked by
    TrainedGenerator)."""
    path = Path(run_or_checkpoint)
    if not path.exists():
        raise GaunetError(f"{path}: no such run folder or checkpoint")
    target = path / "checkpoints" if path.is_dir() else path
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
    if not gen.config.data or not (run / "split.csv").exists():
        return None, "the run records no readable source or split.csv"
    try:
        data = load_source(gen.config.data, size=gen.size, channels=gen.channels)
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
    target = info.get("steps_target") if isinstance(info, dict) else None
    if info.get("status") != "budget_exhausted" or not isinstance(target, int) or target <= 0:
        return None
    if gen.step * 2 >= target:
        return None
    run = gen.checkpoint.parent.parent
    return (
        f"the generator trained {gen.step} of {target} steps (its --minutes budget ran out); "
        f"train longer with `gaunet train --out {run} --resume --steps {target}`"
    )


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
    noise_scale: float = 1.0,
) -> Path:
    """Write `per_class` images per class to out/<folder>/<id>.png and out/manifest.csv (or, with
    fmt="npz", out/synthetic.npz in the MedMNIST layout with out/provenance.csv, whose `index`
    column replaces `path`); returns the manifest (provenance) path.

    `batch_size` only groups whole GENERATION_CHUNK chunks per step; it never changes a file.
    `max_copy_rate` R drops candidates that are near-copies of training images (see
    gaunet.privacy) beyond R * per_class per class, draws replacements (up to
    CANDIDATE_FACTOR * per_class candidates per class) and writes out/copy_filter.json with the
    counts. File names keep the candidate number k, so image k still depends only on
    (seed, class, k). `noise_scale` multiplies every noise vector (1: as trained); the manifest
    records it.

    A generation that fails (disk full, no permission) raises GaunetError naming the file, and
    leaves no manifest and no partial file: the manifest is written last, atomically, and
    only lists files that exist."""
    _check_request(fmt, per_class, batch_size)
    gen = load_generator(checkpoint or run, device=device, noise_scale=noise_scale)
    check_disk_room(out, per_class, len(gen.class_names), gen.size, gen.channels, fmt)
    out = writable_folder(out)
    with folder_lock(out, "generate"):  # a second writer into `out` is refused
        return _write_dataset(
            gen, out, per_class, seed, fmt, batch_size, max_copy_rate, keep_source_names
        )


def _write_dataset(
    gen, out, per_class, seed, fmt, batch_size, max_copy_rate, keep_source_names
) -> Path:
    """generate_dataset() once this process alone writes `out`."""
    warning = undertrained_warning(gen)
    if warning:
        warnings.warn(warning, GaunetWarning, stacklevel=3)  # generate_dataset's caller
    manifest = out / ("manifest.csv" if fmt == "png" else "provenance.csv")
    try:
        # a manifest left by an earlier generation would describe files this one replaces
        manifest.unlink(missing_ok=True)
    except OSError as error:
        raise GaunetError(os_error(error, manifest, "cannot replace")) from None
    written_files = 0
    try:
        rows_out, arrays, names = _generate(
            gen, out, per_class, seed, fmt, batch_size, max_copy_rate
        )
        written_files = len(rows_out)
        _write_outputs(gen, out, manifest, fmt, rows_out, arrays, names, keep_source_names)
    except _Stopped as stopped:
        raise GaunetError(_stopped_message(stopped.error, stopped.written, fmt)) from None
    except OSError as error:
        raise GaunetError(_stopped_message(error, written_files, fmt)) from None
    return manifest


def _check_request(fmt: str, per_class: int, batch_size: int) -> None:
    if fmt not in ("png", "npz"):
        raise GaunetError(f"format must be png or npz, not {fmt!r}")
    if per_class < 1:
        raise GaunetError(f"per_class must be at least 1, not {per_class}")
    if batch_size < 1:
        raise GaunetError(f"batch size must be at least 1, not {batch_size}")


# Share of the free disk a generation may fill: the rest stays for the system and other jobs.
DISK_SHARE = 0.9
MANIFEST_ROW_BYTES = 256  # a manifest/provenance row: path, ids, a 64-hex hash, class names


def estimated_bytes_per_image(size: int, channels: int, fmt: str = "png", block: int = 4096) -> int:
    """An upper bound on the disk one generated image takes, without generating one: an
    uncompressed 8-bit PNG (size x size x channels bytes and a filter byte per row) plus 1/64
    and 256 bytes (more than deflate's worst case on incompressible noise and PNG's chunks),
    rounded up to the filesystem `block` (every PNG is a file of its own), plus its manifest
    row. In synthetic.npz (fmt="npz") the images share one file, so no rounding. Real images
    compress, so a generation takes less, never more."""
    raw = size * (size * channels + 1)
    png = raw + raw // 64 + 256
    if fmt == "npz":
        return size * size * channels + MANIFEST_ROW_BYTES
    return -(-png // block) * block + MANIFEST_ROW_BYTES


def _existing_parent(path: Path) -> Path:
    """`path` or its nearest existing parent folder: where the files would land."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path if path.is_dir() else path.parent


def _human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            break
        n /= 1024
    return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.1f} {unit}"


def check_disk_room(
    out: str | Path, per_class: int, classes: int, size: int, channels: int, fmt: str = "png"
) -> None:
    """GaunetError, before the output folder exists, when `per_class` images of each class would
    not fit in DISK_SHARE of the free disk under `out` (estimated_bytes_per_image, an upper
    bound): a typo such as --per-class 1000000000 would otherwise write for years and fill the
    disk. The message gives the estimate, the free space and how many per class fit."""
    import os
    import shutil

    where = _existing_parent(Path(out))
    try:
        free = shutil.disk_usage(where).free
        block = (os.statvfs(where).f_frsize if hasattr(os, "statvfs") else 0) or 4096
    except OSError:
        return  # unknown free space: the writes themselves report a full disk
    per_image = estimated_bytes_per_image(size, channels, fmt, block)
    count = per_class * classes
    allowed = int(free * DISK_SHARE)
    if count * per_image <= allowed:
        return
    fit = allowed // (per_image * max(1, classes))
    if fmt == "png":
        basis = f"an uncompressed PNG rounded up to the {block}-byte disk block"
    else:
        basis = "uncompressed in synthetic.npz"
    room = f"at most {fit:,} per class fit" if fit else "not even one image per class fits"
    raise GaunetError(
        f"{per_class:,} images per class x {classes} classes = {count:,} images of "
        f"{size}x{size}x{channels} would need up to {_human(count * per_image)} (estimate: "
        f"{_human(per_image)} per image, {basis}, with its manifest row), but {where} has "
        f"{_human(free)} free; {room} in {DISK_SHARE:.0%} of it. Nothing written"
    )


def _write_outputs(gen, out, manifest, fmt, rows_out, arrays, names, keep_source_names) -> None:
    """synthetic.npz (npz format), source_ids.csv when asked, and the manifest last, so that
    a manifest only ever lists files that exist."""
    if fmt == "npz":
        stack = np.stack(arrays).transpose(0, 2, 3, 1)
        labels = np.asarray([r[1] for r in rows_out], dtype=np.int64)[:, None]
        if gen.channels == 1:
            stack = stack[..., 0]
        write_npz(out / "synthetic.npz", compress=True, train_images=stack, train_labels=labels)
    if keep_source_names:
        _write_csv(out / "source_ids.csv", ["source_id", "train_id"], sorted(names.items()))
    header = MANIFEST_COLUMNS if fmt == "png" else PROVENANCE_COLUMNS
    # rows follow MANIFEST_COLUMNS; the provenance CSV picks its columns by name (its `index`
    # is the manifest's `path`, and it has no `folder`: the images are rows of synthetic.npz)
    named = [dict(zip(MANIFEST_COLUMNS, r), index=r[0]) for r in rows_out]
    _write_csv(manifest, header, [[row[c] for c in header] for row in named])


class _Stopped(Exception):
    def __init__(self, error: OSError, written: int) -> None:
        super().__init__(str(error))
        self.error, self.written = error, written


def _stopped_message(error: OSError, written: int, fmt: str) -> str:
    done = f"{written} image file(s) written" if fmt == "png" else "nothing written"
    return f"{os_error(error)}; generation stopped, {done}, no manifest"


def _generate(gen, out, per_class, seed, fmt, batch_size, max_copy_rate):
    """The images of every class: manifest rows, npz arrays, opaque id -> training id."""
    train = gen.train_images
    classes = [c for c in range(len(gen.class_names)) if (train.labels == c).any()]
    folders = folder_names(gen.class_names)
    copy_filter = None
    if max_copy_rate is not None:
        reference, note = held_out_images(gen)
        copy_filter = CopyFilter(train.images, max_copy_rate, reference, note)
    limit = per_class * (CANDIDATE_FACTOR if copy_filter else 1)
    group = max(1, batch_size // GENERATION_CHUNK) * GENERATION_CHUNK
    rows_out, arrays, names, written = [], [], {}, {}
    bar = progress(total=per_class * len(classes), desc="generate", unit="img")
    try:
        for c in classes:
            name, start, accepted = gen.class_names[c], 0, 0
            while accepted < per_class and start < limit:
                n = min(group, per_class - accepted, limit - start)
                images = from_unit_range(gen.sample(c, n, seed, start=start).cpu().numpy())
                sources = train.ids[gen.conditioning_rows(c, n, seed, start)]
                keep = copy_filter.keep(name, images, per_class) if copy_filter else [True] * n
                for k in np.flatnonzero(keep):
                    item = f"{folders[c]}/{start + k:06d}.png" if fmt == "png" else f"{len(arrays)}"
                    if fmt == "png":
                        try:
                            _write_png(inside(out, item), images[k])
                        except OSError as error:
                            raise _Stopped(error, len(rows_out)) from None
                    source = str(sources[k])
                    names[opaque_id(source)] = source
                    rows_out.append(
                        [item, c, name, opaque_id(source), seed, gen.checkpoint_sha256]
                        + [folders[c], repr(gen.noise_scale)]
                    )
                    if fmt == "npz":
                        arrays.append(images[k])
                accepted += int(np.count_nonzero(keep))
                start += n
                bar.update(int(np.count_nonzero(keep)))
            written[name] = accepted
    finally:
        bar.close()
    if copy_filter:
        report = copy_filter.report(written)
        try:
            write_json(out / "copy_filter.json", report)
        except OSError as error:
            raise _Stopped(error, len(rows_out)) from None
        if not rows_out:
            raise GaunetError(
                f"every candidate was a near-copy of a training image ({report['dropped']} "
                f"dropped); nothing written. The generator memorises its training images."
            )
    return rows_out, arrays, names


def _write_csv(path: Path, header: list[str], rows: list) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_atomic(path, text.getvalue().encode(), durable=False)  # a rerun rewrites it


def _write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path.parent)) from None
    array = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    write_atomic(path, buffer.getvalue(), durable=False)
