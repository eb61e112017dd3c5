"""`gaunet data inspect`: table, --json object, --sheet PNG, and --help texts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from data_helpers import make_tree
from PIL import Image

from gaunet.cli import main


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def _inspect(capsys, *args):
    code = main(["data", "inspect", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_has_classes_counts_per_split_and_problems(tmp_path, capsys):
    root = make_tree(tmp_path / "src", {"benign": 12, "malignant": 8})
    (root / "benign" / "bad.png").write_bytes(b"")
    code, out, _ = _inspect(capsys, str(root), "--json", "--size", "16")
    assert code == 0
    summary = json.loads(out)
    assert summary["classes"] == ["benign", "malignant"]
    assert summary["counts"]["total"] == {"benign": 12, "malignant": 8}
    per_split = [summary["counts"][s]["benign"] for s in ("train", "val", "test")]
    assert sum(per_split) == 12 and all(n > 0 for n in per_split)
    assert summary["split"].startswith("assigned") and summary["groups"] == 20
    assert summary["problems"] == [
        {"path": str(root / "benign" / "bad.png"), "reason": "empty file (0 bytes)"}
    ]
    assert summary["sizes"] == {"20x20": 20} and summary["modes"] == {"L": 20}


def test_json_split_is_reproducible_and_seeded(tmp_path, capsys):
    root = make_tree(tmp_path / "src", {"a": 15, "b": 15})
    runs = [json.loads(_inspect(capsys, str(root), "--json", "--size", "16", "--seed", s)[1])
            for s in ("1", "1")]  # fmt: skip
    assert runs[0]["counts"] == runs[1]["counts"]


def test_table_lists_classes_splits_and_problems(tmp_path, capsys):
    root = make_tree(tmp_path / "src", {"a": 3, "b": 2})
    (root / "a" / "junk.txt").write_text("x")
    code, out, _ = _inspect(capsys, str(root), "--size", "16", "--channels", "1")
    assert code == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("class"))
    assert header.split() == ["class", "train", "val", "test", "total"]
    assert next(line for line in lines if line.startswith("a ")).split()[-1] == "3"
    assert "1 file(s) skipped" in out and "junk.txt: unsupported format '.txt'" in out
    assert "1 channel(s)" in out


def test_sheet_has_one_row_per_class(tmp_path, capsys):
    sheet = tmp_path / "out" / "sheet.png"
    code, out, _ = _inspect(capsys, "phantom:n=10,classes=3", "--size", "16", "--sheet", str(sheet))
    assert code == 0 and str(sheet) in out
    image = np.asarray(Image.open(sheet).convert("L"))
    assert image.shape[0] == 3 * 96  # three class rows
    assert image[:, -90:].std() > 5  # samples were pasted, not a blank canvas
    bare = tmp_path / "sheet_without_suffix"  # was a traceback, and the report was lost
    code, out, _ = _inspect(capsys, "phantom:n=10,classes=3", "--size", "16", "--sheet", str(bare))
    assert code == 0 and "images" in out and Image.open(bare).format == "PNG"


def test_official_split_shown_for_npz(tmp_path, capsys):
    arrays = {}
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        arrays[f"{split}_images"] = np.zeros((n, 28, 28), np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2)[:, None]
    np.savez(tmp_path / "breastmnist.npz", **arrays)
    summary = json.loads(_inspect(capsys, str(tmp_path / "breastmnist.npz"), "--json")[1])
    assert summary["split"] == "official"
    assert summary["counts"]["val"] == {"malignant": 1, "normal+benign": 1}


def test_bad_window_is_a_clear_error(capsys):
    code, _, err = _inspect(capsys, "phantom", "--window", "40")
    assert code == 2 and "CENTER,WIDTH" in err


@pytest.mark.parametrize("argv", [["--help"], ["data", "--help"], ["data", "inspect", "--help"]])
def test_help_describes_commands(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: gaunet" in out
    if argv[-2:] == ["inspect", "--help"]:
        for option in ("--json", "--sheet", "--size", "--channels", "--seed", "--window"):
            assert option in out


def test_window_and_blank_slice_options_reach_the_reader(tmp_path, capsys):
    from data_helpers import make_nifti, write_csv

    volume = np.zeros((16, 16, 4), dtype=np.float32)
    volume[:, :8, 1:3] = 1000.0  # slices 0 and 3 are blank
    make_nifti(tmp_path / "v.nii.gz", volume)
    csv = write_csv(tmp_path / "m.csv", ["path", "label"], [["v.nii.gz", "a"]])
    args = [str(csv), "--json", "--size", "16"]
    assert json.loads(_inspect(capsys, *args)[1])["images"] == 4
    kept = json.loads(_inspect(capsys, *args, "--skip-blank-slices", "--window", "500,1000")[1])
    assert kept["images"] == 2 and kept["kind"] == "nifti"


def test_one_shared_patient_id_is_named_as_why_val_and_test_are_empty(tmp_path, capsys):
    """A manifest (or DICOM export) giving every image one patient id: the grouped split puts
    everything in train; inspect warns why, and benchmark's refusal says the same."""
    root = make_tree(tmp_path / "src", {"a": 10, "b": 10})
    rows = [f"{c}/{p.name},{c},ANON" for c in "ab" for p in sorted((root / c).iterdir())]
    (root / "manifest.csv").write_text("path,label,patient_id\n" + "\n".join(rows) + "\n")
    code, out, _ = _inspect(capsys, str(root), "--size", "16")
    assert code == 0
    assert "warning  val and test got no image because the 20 images belong to only 1 group" in out
    code = main(["benchmark", "--data", str(root), "--size", "16", "--arms", "none",
                 "--classifiers", "svm", "--seeds", "1", "--out", str(tmp_path / "bench")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "no validation or no test images: val and test got no image" in err
