"""SOURCE strings -> ImageSet: the one dispatcher in front of one reader per source kind.

- `phantom[:n=,classes=,seed=]`: built-in synthetic set (never cached: it is generated)
- `file.npz`: MedMNIST layout, official split kept
- `file.csv`: manifest `path,label[,patient_id][,split][,class][,slice]`, paths relative to it,
  pointing at images, DICOM files or NIfTI volumes (dispatch by extension)
- `folder/` holding `manifest.csv`: read through that manifest (prepared / generated sets)
- `folder/`: a class-folder tree `folder/<class>/**/<image>`
File sources are decoded once per (files, size, channels, options) and cached (see cache.py).
`split_from=RUN` gives the loaded set the split a training run used (splits.apply_run_split).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaunet.data.imageset import ImageSet
from gaunet.data.phantom import make_phantom, parse_phantom_spec
from gaunet.data.prepare import resize_stack
from gaunet.data.readers.build import build_imageset, class_minimum
from gaunet.data.readers.items import ReadOptions, SourceError

__all__ = ["SourceError", "load_source", "parse_window"]


def load_phantom(spec: str, size: int, channels: int) -> ImageSet:
    options = parse_phantom_spec(spec)
    images, labels, names, groups = make_phantom(
        options["n"], options["classes"], size=size, seed=options["seed"]
    )
    ids = np.asarray([f"phantom/{i:05d}" for i in range(len(images))])
    return ImageSet(
        images=resize_stack(images, size, channels),
        labels=labels,
        class_names=names,
        groups=groups,
        ids=ids,
        source=spec,
        info={
            "kind": "phantom",
            "synthetic": True,
            "sizes": {f"{size}x{size}": len(images)},
            "modes": {"L": len(images)},
        },
    )


def parse_window(text: str | None) -> tuple[float, float] | None:
    """`"40,400"` (center,width) -> (40.0, 400.0), for --window options."""
    if text is None or text == "":
        return None
    try:
        center, width = (float(v) for v in text.split(","))
    except ValueError as error:
        raise SourceError(f"--window {text!r}: expected CENTER,WIDTH such as 40,400") from error
    if width <= 0:
        raise SourceError(f"--window {text!r}: width must be positive")
    return center, width


def load_source(
    spec: str | Path,
    size: int = 256,
    channels: int = 3,
    *,
    window: tuple[float, float] | None = None,
    skip_blank: bool = False,
    split_from: str | Path | None = None,
) -> ImageSet:
    """Read any SOURCE into an ImageSet of uint8 (N, channels, size, size) images.

    window: (center, width) for DICOM/NIfTI intensities instead of the file's own window.
    skip_blank: leave out near-empty NIfTI slices (air, padding).
    split_from: a run folder written by `gaunet train` (or its split.csv): the set gets the
    split that run used, so a classifier trained on `where_split("train")` sees exactly the
    generator's training rows and never its validation or test images. SourceError when the
    run's split does not list exactly this source's images.
    """
    data = _load(spec, size, channels, window=window, skip_blank=skip_blank)
    if split_from is not None:
        from gaunet.data.splits import apply_run_split

        data = apply_run_split(data, split_from)
    return data


def _load(
    spec: str | Path,
    size: int,
    channels: int,
    *,
    window: tuple[float, float] | None,
    skip_blank: bool,
) -> ImageSet:
    if channels not in (1, 3):
        raise SourceError(f"channels must be 1 or 3, not {channels}")
    if size < 8:
        raise SourceError(f"size must be at least 8 pixels, not {size}")
    text = str(spec)
    if text == "phantom" or text.startswith("phantom:"):
        if Path(text).exists():  # a folder or file of that name beside the built-in set
            raise SourceError(
                f"{text!r} is both the built-in synthetic set and a path here: write ./{text} "
                "for the path (or run elsewhere for the built-in set)"
            )
        try:
            return load_phantom(text, size, channels)
        except ValueError as error:
            raise SourceError(str(error)) from error
    path = Path(text).expanduser()
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if window is not None:  # (40, 400) and --window 40,400 are one cache entry, not two
        window = (float(window[0]), float(window[1]))
    options = ReadOptions(size=size, channels=channels, window=window, skip_blank=skip_blank)
    name = path.name.lower()
    if path.is_file() and name.endswith(".npz"):
        from gaunet.data.readers.npz import load_npz

        return load_npz(path, size, channels)
    if path.is_file() and name.endswith(".csv"):
        return _from_manifest(path, options)
    if path.is_dir() and (path / "manifest.csv").is_file():
        return _from_manifest(path / "manifest.csv", options, source=str(path))
    if path.is_dir():
        from gaunet.data.readers.folder import scan_class_folders

        try:
            items, names, problems = scan_class_folders(path)
        except OSError as error:
            raise SourceError(f"{path}: cannot list the folder ({error.strerror})") from error
        least = class_minimum("folder")
        return build_imageset(
            items, names, options, str(path), "folder", problems, min_per_class=least
        )
    if name.endswith((".nii", ".nii.gz", ".dcm")):
        raise SourceError(
            f"{path}: a single volume/image has no labels; list it in a manifest CSV "
            "(path,label[,patient_id]) and give the CSV as SOURCE"
        )
    raise SourceError(
        f"{path}: not a source gaunet can read (a class folder, a manifest .csv, an .npz, "
        "or phantom; see `gaunet data inspect --help`)"
    )


def _from_manifest(csv_path: Path, options: ReadOptions, source: str | None = None) -> ImageSet:
    from gaunet.data.readers.manifest import is_generated, scan_manifest

    items, names, problems = scan_manifest(csv_path)
    kinds = {item.path.name.lower().rsplit(".", 2)[-1] for item in items}
    kind = "nifti" if kinds & {"nii", "gz"} else "dicom" if "dcm" in kinds else "manifest"
    generated = is_generated(csv_path)
    return build_imageset(
        items, names, options, source or str(csv_path), kind, problems,
        min_per_class=class_minimum(kind, generated), clear_ids=generated,
    )  # fmt: skip
