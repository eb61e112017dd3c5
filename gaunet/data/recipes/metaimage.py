"""A small reader for MetaImage (.mhd + .raw, or .mha) volumes, numpy only (no SimpleITK).

Header keys used: ObjectType, NDims, DimSize, ElementType, ElementSpacing (or ElementSize),
Offset (alias Origin, Position), TransformMatrix (alias Rotation, Orientation),
ElementDataFile (a file name next to the header, or LOCAL for data after the header in one
.mha), BinaryDataByteOrderMSB (alias ElementByteOrderMSB), CompressedData (zlib), HeaderSize.
Geometry follows ITK: world = Offset + D @ (index * spacing), where D's columns are the 3-value
groups of TransformMatrix (ITK's MetaImageIO reads it that way). Arrays come back (z, y, x).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ELEMENT_TYPES = {
    "MET_UCHAR": "u1",
    "MET_CHAR": "i1",
    "MET_USHORT": "u2",
    "MET_SHORT": "i2",
    "MET_UINT": "u4",
    "MET_INT": "i4",
    "MET_ULONG": "u4",  # MetaIO's MET_ValueTypeSize: 4 bytes (an 8-byte long is MET_LONG_LONG)
    "MET_LONG": "i4",
    "MET_ULONG_LONG": "u8",
    "MET_LONG_LONG": "i8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}
ALIASES = {
    "Origin": "Offset",
    "Position": "Offset",
    "Rotation": "TransformMatrix",
    "Orientation": "TransformMatrix",
    "ElementByteOrderMSB": "BinaryDataByteOrderMSB",
    "ElementSize": "ElementSpacing",
}


@dataclass
class MetaImage:
    """Voxels (z, y, x) with the geometry needed to place world (mm) points in them."""

    array: np.ndarray
    spacing: np.ndarray  # (x, y, z) mm
    offset: np.ndarray  # world position (x, y, z) of voxel (0, 0, 0)
    direction: np.ndarray  # (3, 3), columns = image axes in world space

    def world_to_voxel(self, world_xyz: np.ndarray) -> np.ndarray:
        """Continuous voxel index (x, y, z) of a world point in mm."""
        delta = np.asarray(world_xyz, dtype=np.float64) - self.offset
        return np.linalg.solve(self.direction, delta) / self.spacing


def read_header(path: Path) -> tuple[dict[str, str], int]:
    """Header key -> value text, and the byte position after the header (for LOCAL data)."""
    header: dict[str, str] = {}
    position = 0
    with open(path, "rb") as handle:
        for raw in handle:
            position += len(raw)
            line = raw.decode("latin-1").strip()
            if not line or "=" not in line:
                continue
            key, value = (part.strip() for part in line.split("=", 1))
            header[ALIASES.get(key, key)] = value
            if key == "ElementDataFile":
                break
    if "ElementDataFile" not in header:
        raise ValueError("MetaImage header has no ElementDataFile")
    return header, position


def read_metaimage(path: Path | str) -> MetaImage:
    """Read a .mhd/.mha volume; ValueError with the reason when the header is unsupported."""
    path = Path(path)
    header, header_end = read_header(path)
    ndims = int(header.get("NDims", "3"))
    shape_xyz = [int(v) for v in header["DimSize"].split()]
    if len(shape_xyz) != ndims or int(header.get("ElementNumberOfChannels", "1")) != 1:
        raise ValueError(f"unsupported DimSize/channels in {path.name}")
    element = header.get("ElementType", "")
    if element not in ELEMENT_TYPES:
        raise ValueError(f"unsupported ElementType {element!r}")
    msb = header.get("BinaryDataByteOrderMSB", "False").lower() == "true"
    dtype = np.dtype(ELEMENT_TYPES[element]).newbyteorder(">" if msb else "<")
    data_name = header["ElementDataFile"]
    if data_name == "LOCAL":
        data = path.read_bytes()[header_end:]
    elif data_name.split()[0] == "LIST" or "%" in data_name:
        raise ValueError("multi-file ElementDataFile (LIST or pattern) is not supported")
    else:
        data = (path.parent / data_name).read_bytes()
    skip = int(header.get("HeaderSize", "0"))
    if header.get("CompressedData", "False").lower() == "true":
        data = zlib.decompress(data)
    count = int(np.prod(shape_xyz))
    if skip == -1:
        skip = len(data) - count * dtype.itemsize
    if len(data) - skip < count * dtype.itemsize:  # a cut download, not numpy's "buffer" words
        where = path.name if data_name == "LOCAL" else data_name
        raise ValueError(
            f"{where} holds {len(data) - skip} bytes of voxel data, DimSize and ElementType "
            f"need {count * dtype.itemsize} (truncated?)"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=skip)
    array = array.reshape(shape_xyz[::-1]).astype(dtype.newbyteorder("="))
    spacing = _vector(header, "ElementSpacing", ndims, 1.0)
    offset = _vector(header, "Offset", ndims, 0.0)
    matrix = header.get("TransformMatrix")
    direction = np.eye(ndims)
    if matrix:
        values = np.asarray([float(v) for v in matrix.split()])
        direction = values.reshape(ndims, ndims).T
    return MetaImage(array, spacing, offset, direction)


def _vector(header: dict[str, str], key: str, ndims: int, default: float) -> np.ndarray:
    if key not in header:
        return np.full(ndims, default)
    values = np.asarray([float(v) for v in header[key].split()])
    if len(values) != ndims:
        raise ValueError(f"{key} has {len(values)} values for {ndims} dimensions")
    return values
