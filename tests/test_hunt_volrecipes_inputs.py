"""`gaunet data prepare` on damaged or unusual inputs of the volumetric and CSV recipes: a
clear GaunetError naming the file (no traceback), nothing duplicated, MetaImage types read
at MetaIO's sizes."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest

from gaunet.data.recipes import prepare_dataset
from gaunet.data.recipes.common import read_prepared_manifest
from gaunet.data.recipes.metaimage import read_metaimage
from gaunet.errors import GaunetError

sys.path.insert(0, str(Path(__file__).parent))
from test_recipe_chestxray8 import make_nih  # noqa: E402
from test_recipe_ham10000 import make_ham  # noqa: E402
from test_recipe_lits import make_lits  # noqa: E402
from test_recipe_luna16 import make_luna  # noqa: E402

UID = "1.3.6.1.4.1.14519.5.2.1.6279.6001.100"


def _with_bom(path: Path) -> None:
    """As Excel's "CSV UTF-8" saves it."""
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


def test_csvs_saved_with_a_byte_order_mark_are_read(tmp_path):
    for name in ("luna", "nih", "ham"):
        (tmp_path / name).mkdir()
    make_luna(tmp_path / "luna", series=2)
    _with_bom(tmp_path / "luna" / "annotations.csv")
    _with_bom(tmp_path / "luna" / "candidates.csv")
    prepare_dataset("luna16", tmp_path / "luna", tmp_path / "o1", size=8)
    assert len(read_prepared_manifest(tmp_path / "o1")) == 2 * 3
    make_nih(tmp_path / "nih", official=False)
    _with_bom(tmp_path / "nih" / "Data_Entry_2017.csv")
    prepare_dataset("chestxray8", tmp_path / "nih", tmp_path / "o2", size=8)
    assert len(read_prepared_manifest(tmp_path / "o2")) == 36
    make_ham(tmp_path / "ham")
    _with_bom(tmp_path / "ham" / "HAM10000_metadata.csv")
    prepare_dataset("ham10000", tmp_path / "ham", tmp_path / "o3", size=8)
    assert len(read_prepared_manifest(tmp_path / "o3")) == 140


def test_chestxray8_metadata_without_a_column_is_named(tmp_path):
    make_nih(tmp_path, official=False)
    metadata = tmp_path / "Data_Entry_2017.csv"
    metadata.write_text(metadata.read_text().replace("Patient ID", "PatientID"))
    with pytest.raises(GaunetError, match=r"Data_Entry_2017\.csv.*Patient ID"):
        prepare_dataset("chestxray8", tmp_path, tmp_path / "out", size=8)


@pytest.mark.parametrize("row", [f"{UID},,1,2,3", f"{UID},1"])
def test_luna16_row_without_numeric_coordinates_is_named(tmp_path, row):
    make_luna(tmp_path, series=2)
    with open(tmp_path / "annotations.csv", "a") as handle:
        handle.write(row + "\n")
    with pytest.raises(GaunetError, match=r"annotations\.csv line 5"):
        prepare_dataset("luna16", tmp_path, tmp_path / "out", size=8)


@pytest.mark.parametrize("bad", ["x", "inf"])
def test_lits_box_file_with_a_word_for_a_number_is_named(tmp_path, bad):
    make_lits(tmp_path, volumes=2)
    boxes = tmp_path / "boxes"
    boxes.mkdir()
    (boxes / "segmentation-0.txt").write_text(f"liver 4 2 8 3 9 1 4\nliver 4 2 8 3 {bad} 1 4\n")
    with pytest.raises(GaunetError, match=r"segmentation-0\.txt line 2"):
        prepare_dataset("lits", tmp_path, tmp_path / "out", size=8, organ_boxes=boxes)


def test_lits_volume_kept_both_gzipped_and_not_is_not_prepared_twice(tmp_path):
    make_lits(tmp_path, volumes=2)
    for stem in ("volume-0", "segmentation-0"):
        plain = next(tmp_path.rglob(f"{stem}.nii"))
        plain.with_name(f"{stem}.nii.gz").write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(GaunetError, match=r"volume-0\.nii.*volume-0\.nii\.gz"):
        prepare_dataset("lits", tmp_path, tmp_path / "out", size=8)


@pytest.mark.parametrize(("element", "dtype"), [("MET_LONG", "<i4"), ("MET_ULONG", "<u4")])
def test_metaimage_long_is_four_bytes_as_in_metaio(tmp_path, element, dtype):
    """MetaIO's MET_ValueTypeSize: MET_LONG / MET_ULONG are 4 bytes (ITK writes an 8-byte
    `long` as MET_LONG_LONG)."""
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    header = f"NDims = 3\nDimSize = 4 3 2\nElementType = {element}\nElementDataFile = v.raw\n"
    (tmp_path / "v.mhd").write_text(header)
    (tmp_path / "v.raw").write_bytes(array.astype(dtype).tobytes())
    np.testing.assert_array_equal(read_metaimage(tmp_path / "v.mhd").array, array)


def test_metaimage_truncated_data_file_says_so(tmp_path):
    header = "NDims = 3\nDimSize = 4 3 2\nElementType = MET_SHORT\nElementDataFile = v.raw\n"
    (tmp_path / "v.mhd").write_text(header)
    (tmp_path / "v.raw").write_bytes(b"\0" * 30)
    with pytest.raises(ValueError, match=r"v\.raw holds 30 bytes.*48"):
        read_metaimage(tmp_path / "v.mhd")
