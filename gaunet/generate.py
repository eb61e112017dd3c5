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
import io
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gaunet.class_filter import (
    StreamingChoice,
    check_filter_pool,
    conditioning_images,
    domain_scorer,
)
from gaunet.data.imageset import from_unit_range
from gaunet.errors import GaunetError, GaunetWarning, os_error, writable_folder
from gaunet.generation_setup import (
    IN_PROGRESS,
    check_request,
    checkpoint_of,
    class_counts,
    refuse_foreign_records,
    remove_earlier_generation,
    skip_unpaired,
)
from gaunet.io import human_bytes, write_atomic, write_json, write_npz
from gaunet.locking import folder_lock
from gaunet.privacy import CANDIDATE_FACTOR, CopyFilter, folder_names, inside
from gaunet.progress import progress
from gaunet.trained_generator import (
    GENERATION_CHUNK,
    held_out_images,
    load_generator,
    opaque_id,
    undertrained_warning,
)

# `folder`: the class's folder under the output, which may differ from its name (see
# gaunet.privacy.folder_names). `noise_scale`: the factor every noise vector was multiplied by.
# New columns go last, so readers of the first ones keep working.
MANIFEST_COLUMNS = [
    "path", "label", "class", "source_id", "seed", "checkpoint_sha256", "folder", "noise_scale",
]  # fmt: skip
PROVENANCE_COLUMNS = [
    "index", "label", "class", "source_id", "seed", "checkpoint_sha256", "noise_scale",
]  # fmt: skip


def generate_dataset(
    run: str | Path,
    out: str | Path,
    per_class: int | Sequence[int],
    seed: int = 0,
    checkpoint: str | Path | None = None,
    fmt: str = "png",
    batch_size: int = 64,
    device: str | torch.device | None = None,
    keep_source_names: bool = False,
    max_copy_rate: float | None = None,
    noise_scale: float = 1.0,
    filter_pool: int = 1,
) -> Path:
    """Write `per_class` images per class to out/<folder>/<id>.png and out/manifest.csv (or, with
    fmt="npz", out/synthetic.npz in the MedMNIST layout with out/provenance.csv, whose `index`
    column replaces `path`); returns the manifest (provenance) path. `per_class` may be one
    count per class (class index order): each class's images are then a prefix of those a
    larger count would give.

    `batch_size` only groups whole GENERATION_CHUNK chunks per step; it never changes a file.
    `max_copy_rate` R drops candidates that are near-copies of training images (see
    gaunet.privacy) beyond R * per_class per class, draws replacements (up to
    CANDIDATE_FACTOR * per_class candidates per class) and writes out/copy_filter.json with the
    counts. File names keep the candidate number k, so image k still depends only on
    (seed, class, k). `noise_scale` multiplies every noise vector (1: as trained); the manifest
    records it. `filter_pool` K > 1 draws K x the images of each class and keeps those the
    domain CNN trained on the run's training images is surest of (gaunet.class_filter; the
    same rule as `gaunet benchmark --filter-pool K`), with out/filter.json.

    A generation that fails (disk full, no permission) raises GaunetError naming the file, and
    leaves no manifest and no partial file: the manifest is written last, atomically, and
    only lists files that exist."""
    check_request(fmt, per_class, batch_size, seed, max_copy_rate)
    check_filter_pool(filter_pool, max_copy_rate)
    gen = load_generator(checkpoint_of(run, checkpoint), device=device, noise_scale=noise_scale)
    per_class = skip_unpaired(gen, class_counts(per_class, len(gen.class_names)))
    check_disk_room(out, max(per_class), len(gen.class_names), gen.size, gen.channels, fmt)
    refuse_foreign_records(Path(out))
    out = writable_folder(out)
    choice = _Choice(max_copy_rate, filter_pool, "auto" if device is None else str(device))
    with folder_lock(out, "generate"):  # a second writer into `out` is refused
        return _write_dataset(gen, out, per_class, seed, fmt, batch_size, choice, keep_source_names)


@dataclass(frozen=True)
class _Choice:
    """Which candidates are written: the near-copy allowance and the confidence pool."""

    max_copy_rate: float | None
    filter_pool: int
    device: str


def _write_dataset(gen, out, per_class, seed, fmt, batch_size, choice, keep_source_names) -> Path:
    """generate_dataset() once this process alone writes `out`."""
    warning = undertrained_warning(gen)
    if warning:
        warnings.warn(warning, GaunetWarning, stacklevel=3)  # generate_dataset's caller
    manifest = out / ("manifest.csv" if fmt == "png" else "provenance.csv")
    refuse_foreign_records(out)  # again under the lock, and before the marker: never in a dataset
    marker = out / IN_PROGRESS
    marker.write_text("gaunet generate writes here; left behind, it stopped before its manifest\n")
    remove_earlier_generation(out)
    # the images on disk, removed if the generation does not finish: without a manifest they
    # would be read as a class-folder dataset, and a rerun (which removes what a manifest
    # lists) would leave them beside its own
    rows_out: list = []
    try:
        try:
            arrays, names = _generate(gen, out, per_class, seed, fmt, batch_size, choice, rows_out)
            _write_outputs(gen, out, manifest, fmt, rows_out, arrays, names, keep_source_names)
        except BaseException:  # a full disk, Ctrl-C, SIGTERM, an error
            _remove_images(out, rows_out, fmt)
            marker.unlink(missing_ok=True)
            raise
    except _Stopped as stopped:
        raise GaunetError(_stopped_message(stopped.error, stopped.written, fmt)) from None
    except OSError as error:
        raise GaunetError(_stopped_message(error, len(rows_out), fmt)) from None
    marker.unlink(missing_ok=True)
    return manifest


def _remove_images(out: Path, rows: list, fmt: str) -> None:
    """The PNGs this generation wrote (its rows' paths), when it stops before its manifest."""
    if fmt != "png":
        return
    for row in rows:
        inside(out, row[0]).unlink(missing_ok=True)


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
        f"{size}x{size}x{channels} would need up to {human_bytes(count * per_image)} (estimate: "
        f"{human_bytes(per_image)} per image, {basis}, with its manifest row), but {where} has "
        f"{human_bytes(free)} free; {room} in {DISK_SHARE:.0%} of it. Nothing written"
    )


def _write_outputs(gen, out, manifest, fmt, rows_out, arrays, names, keep_source_names) -> None:
    """synthetic.npz (npz format), source_ids.csv when asked, and the manifest last, so that
    a manifest only ever lists files that exist."""
    if fmt == "npz":
        stack = np.stack(arrays).transpose(0, 2, 3, 1)
        labels = np.asarray([r[1] for r in rows_out], dtype=np.int64)[:, None]
        if gen.channels == 1:
            stack = stack[..., 0]
        names_kept = np.asarray(gen.class_names, dtype=str)  # read back by name, every class
        write_npz(
            out / "synthetic.npz",
            compress=True,
            train_images=stack,
            train_labels=labels,
            class_names=names_kept,
        )
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
    done = f"the {written} image file(s) it wrote removed" if fmt == "png" else "nothing written"
    return f"{os_error(error)}; generation stopped, {done}, no manifest"


def _generate(gen, out, per_class, seed, fmt, batch_size, choice, rows_out):
    """The images of every class: manifest rows (appended to `rows_out` as each image is
    written), npz arrays, opaque id -> training id."""
    train = gen.train_images
    classes = [c for c in range(len(gen.class_names)) if (train.labels == c).any()]
    folders = folder_names(gen.class_names)
    copy_filter = None
    if choice.max_copy_rate is not None:
        reference, note = held_out_images(gen)
        copy_filter = CopyFilter(train.images, choice.max_copy_rate, reference, note)
    pool = choice.filter_pool
    group = max(1, batch_size // GENERATION_CHUNK) * GENERATION_CHUNK
    arrays, names = [], {}
    confident, scorer = None, {}
    if pool > 1:  # candidates scored as they come: memory for the kept ones, not the pool
        score, batch, scorer = domain_scorer(train, choice.device)
        confident = StreamingChoice(score, np.asarray(per_class), gen.class_names, batch)

    def emit(c: int, k: int, image: np.ndarray, source: str) -> None:
        item = f"{folders[c]}/{k:06d}.png" if fmt == "png" else f"{len(arrays)}"
        row = [item, c, gen.class_names[c], opaque_id(source), seed, gen.checkpoint_sha256]
        rows_out.append(row + [folders[c], repr(gen.noise_scale)])  # first: an interrupt
        if fmt == "png":  # during the write still finds the file in the rows to remove
            try:
                _write_png(inside(out, item), image)
            except OSError as error:
                rows_out.pop()
                raise _Stopped(error, len(rows_out)) from None
        names[opaque_id(source)] = source
        if fmt == "npz":
            arrays.append(image)

    bar = progress(total=sum(per_class[c] for c in classes) * pool, desc="generate", unit="img")
    try:
        for c in classes:
            name, start, accepted, wanted = gen.class_names[c], 0, 0, per_class[c] * pool
            limit = wanted * (CANDIDATE_FACTOR if copy_filter else 1)
            while accepted < wanted and start < limit:
                n = min(group, wanted - accepted, limit - start)
                images = from_unit_range(gen.sample(c, n, seed, start=start).cpu().numpy())
                sources = train.ids[gen.conditioning_rows(c, n, seed, start)]
                # the near-copy allowance is a share of what was asked, not of the pool
                keep = copy_filter.keep(name, images, per_class[c]) if copy_filter else [True] * n
                for k in np.flatnonzero(keep):
                    if confident is None:
                        emit(c, start + int(k), images[k], str(sources[k]))
                    else:  # a copy: a kept view would hold its whole chunk in memory
                        image = images[k].copy()
                        confident.add(c, image, (c, start + int(k), image, str(sources[k])))
                accepted += int(np.count_nonzero(keep))
                start += n
                bar.update(int(np.count_nonzero(keep)))
    finally:
        bar.close()
    if confident is not None:  # the most confident of each class's pool, in candidate order
        kept, report = confident.finish()
        for candidate in kept:
            emit(*candidate)
        sources = conditioning_images([(c, source) for c, _, _, source in kept], gen.class_names)
        report = {"pool": pool, **report, "conditioning_images": sources, "scorer": scorer}
        _write_report(out / "filter.json", report, len(rows_out))
    if copy_filter:
        report = copy_filter.report(Counter(row[2] for row in rows_out))  # files per class
        _write_report(out / "copy_filter.json", report, len(rows_out))
        if not rows_out:
            raise GaunetError(
                f"every candidate was a near-copy of a training image ({report['dropped']} "
                f"dropped); nothing written. The generator memorises its training images."
            )
    return arrays, names


def _write_report(path: Path, report: dict, written: int) -> None:
    try:
        write_json(path, report)
    except OSError as error:
        raise _Stopped(error, written) from None


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
