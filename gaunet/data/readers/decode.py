"""One file -> decoded 2D frames: the dispatcher above the readers of each file kind.

The kind comes from the extension (DICOM also from its 'DICM' marker, whatever the name);
`image` reads ordinary images, `medical` DICOM files and NIfTI volumes. Whatever a decoder raises on hostile bytes
becomes a SkipFile with a one-line reason.
"""

from __future__ import annotations

import os
from pathlib import Path

from gaunet.data.readers.image import read_image
from gaunet.data.readers.items import Frame, ReadOptions, SkipFile
from gaunet.data.readers.medical import read_dicom, read_nifti

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
DICOM_SUFFIXES = (".dcm", ".dicom")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
SUPPORTED = IMAGE_SUFFIXES + DICOM_SUFFIXES + NIFTI_SUFFIXES


def first_image_file(folder: Path, skip: tuple[str, ...] = ()) -> Path | None:
    """An image file (by its name) in `folder` or one folder down, where a class-folder dataset
    keeps them, outside the subfolders named in `skip`; None when there is none. What `train`
    and `generate` check before writing into a folder that may be a user's dataset."""
    if not folder.is_dir():
        return None
    for entry in sorted(_listing(folder)):
        if entry.name in skip:
            continue
        inside = sorted(_listing(entry)) if entry.is_dir() else [entry]
        for path in inside:
            if path.is_file() and path.name.lower().endswith(SUPPORTED):
                return path
    return None


def _listing(folder: Path) -> list[Path]:
    """The folder's entries; none where it cannot be listed (no permission, a dead mount): a
    folder that cannot be read holds no image of a dataset this run could overwrite."""
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def file_kind(path: Path) -> str | None:
    """'image', 'dicom', 'nifti' or None (unsupported), from the name or else the DICOM marker."""
    name = path.name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    if name.endswith(DICOM_SUFFIXES):
        return "dicom"
    if name.endswith(IMAGE_SUFFIXES):
        return "image"
    # DICOM files often carry no extension, or are named by their UID ("1.2.840.113619.2.55.3.
    # 604688119.969.1268071029.320", a PACS export): whatever the name, the marker decides
    if path.is_file():
        try:
            with open(path, "rb") as handle:
                head = handle.read(132)
        except OSError:
            return None
        if head[128:132] == b"DICM":
            return "dicom"
    return None


def decode_file(path: Path, options: ReadOptions, slice_index: int | None = None) -> list[Frame]:
    """All frames of `path`, resized; raises SkipFile with the reason when it is unusable."""
    try:
        size = path.stat().st_size
    except OSError as error:
        if path.is_symlink() and not os.path.lexists(os.path.realpath(path)):
            raise SkipFile("link to a file that is not there (broken link)") from error
        raise SkipFile(f"cannot be read ({error.strerror or error})") from error
    if size == 0:
        raise SkipFile("empty file (0 bytes)")
    kind = file_kind(path)
    if kind is None:
        raise SkipFile(f"unsupported format '{path.suffix or path.name}' (use {_supported()})")
    try:
        if kind == "nifti":
            return read_nifti(path, options, slice_index)
        frames = read_dicom(path, options) if kind == "dicom" else [read_image(path, options)]
        return frames if slice_index is None else [_frame(frames, slice_index)]
    except (SkipFile, MemoryError):
        raise
    except Exception as error:  # noqa: BLE001 - decoders raise anything on hostile bytes
        message = str(error).splitlines()[0] if str(error) else ""
        raise SkipFile(f"cannot be decoded ({type(error).__name__}: {message})") from error


def _frame(frames: list[Frame], slice_index: int) -> Frame:
    """A manifest's `slice` on a DICOM or image row: that one frame (of a multi-frame file),
    not every frame once per row under each row's label."""
    if not 0 <= slice_index < len(frames):
        raise SkipFile(f"slice {slice_index} is outside the file's frames 0..{len(frames) - 1}")
    return frames[slice_index]


def _supported() -> str:
    return ", ".join(s.lstrip(".") for s in ("png", "jpg", "tif", "bmp", "dcm", "nii", "nii.gz"))
