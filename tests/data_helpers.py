"""Tiny generated fixtures for the data-layer tests: image trees, DICOM and NIfTI files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def pattern(seed: int, size: int = 20) -> np.ndarray:
    """A distinct uint8 grey image per seed (a gradient plus noise)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, size, dtype=np.float32)[None, :] + rng.uniform(0, 55, (size, size))
    return ramp.astype(np.uint8)


def write_image(path: Path, seed: int = 0, mode: str = "L", size: int = 20) -> Path:
    """Write a small image in a Pillow mode (L, RGB, RGBA, P, I;16) in the format of `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    grey = pattern(seed, size)
    if mode == "I;16":
        image = Image.fromarray(grey.astype(np.uint16) * 257)
    else:
        image = Image.fromarray(grey).convert(mode)
    image.save(path)
    return path


def make_tree(root: Path, counts: dict[str, int], suffix: str = ".png", mode: str = "L") -> Path:
    """root/<class>/<class> (i).png with `counts[class]` images each."""
    seed = 0
    for name, n in counts.items():
        for i in range(n):
            write_image(root / name / f"{name} ({i}){suffix}", seed=seed, mode=mode)
            seed += 1
    return root


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_dicom(
    path: Path,
    pixels: np.ndarray,
    patient_id: str = "P1",
    photometric: str = "MONOCHROME2",
    slope: float = 1.0,
    intercept: float = 0.0,
    window: tuple[float, float] | None = None,
    with_pixels: bool = True,
) -> Path:
    """A minimal secondary-capture DICOM file with 16-bit unsigned pixels; `pixels` of shape
    (frames, rows, columns) makes a multi-frame file."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = patient_id
    ds.Modality = "CT"
    pixels = np.asarray(pixels, dtype=np.uint16)
    if pixels.ndim == 3:
        ds.NumberOfFrames = len(pixels)
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if with_pixels:
        ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def make_nifti(path: Path, volume: np.ndarray) -> Path:
    """A NIfTI volume with an identity affine (RAS already)."""
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(volume, dtype=np.float32), np.eye(4)), str(path))
    return path


def clear_ids(source, data) -> list[str]:
    """The readable ids (relative paths, `path#k`) behind an ImageSet's opaque ids."""
    from gaunet.data.ids import lookup

    found = lookup(source, data.ids)
    return [found[i] for i in data.ids]


def partition(values) -> list[int]:
    """Each value's first index: equal for equal values, so opaque groups can be compared with
    the clear ones they stand for."""
    first: dict = {}
    return [first.setdefault(v, i) for i, v in enumerate(values)]
