"""`gaunet data prepare busi`: generated fixture with BUSI's naming, and the real copy."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from data_helpers import clear_ids, partition
from PIL import Image

from gaunet.cli import main
from gaunet.data.recipes.common import groups_in_two_splits, read_prepared_manifest

REAL_BUSI = Path(__file__).parents[1].parent / "shared" / "data" / "busi"


def make_busi(root: Path, per_class: dict[str, int]) -> None:
    rng = np.random.default_rng(0)
    for name, count in per_class.items():
        (root / name).mkdir(parents=True)
        for i in range(1, count + 1):
            pixels = rng.integers(0, 255, (20, 24), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name} ({i}).png")
            Image.fromarray(pixels > 128).save(root / name / f"{name} ({i})_mask.png")
        Image.fromarray(pixels > 128).save(root / name / f"{name} (1)_mask_1.png")


def test_fixture_labels_groups_split(tmp_path, capsys):
    counts = {"benign": 12, "malignant": 7, "normal": 5}
    make_busi(tmp_path / "Dataset_BUSI_with_GT", counts)
    out = tmp_path / "out"
    code = main(["data", "prepare", "busi", "--root", str(tmp_path), "--out", str(out),
                 "--size", "16", "--channels", "1"])  # fmt: skip
    assert code == 0
    rows = read_prepared_manifest(out)
    assert Counter(row["label"] for row in rows) == counts  # masks were skipped
    assert len({row["patient_id"] for row in rows}) == len(rows)
    assert {row["split"] for row in rows} == {"train", "val", "test"}
    assert not groups_in_two_splits([r["patient_id"] for r in rows], [r["split"] for r in rows])
    image = np.asarray(Image.open(out / rows[0]["path"]))
    assert image.shape == (16, 16) and image.dtype == np.uint8
    meta = json.loads((out / "prepare.json").read_text())
    assert meta["status"] == "complete" and meta["recipe"] == "busi"
    assert sum(meta["counts"]["benign"].values()) == 12
    printed = capsys.readouterr().out
    assert "malignant" in printed and "total" in printed


def test_missing_class_folder_is_named(tmp_path, capsys):
    make_busi(tmp_path, {"benign": 2, "malignant": 2})
    code = main(["data", "prepare", "busi", "--root", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "normal" in capsys.readouterr().err


def test_unreadable_file_is_skipped_and_named(tmp_path, capsys):
    make_busi(tmp_path, {"benign": 3, "malignant": 3, "normal": 3})
    (tmp_path / "benign" / "benign (99).png").write_bytes(b"not a png")
    out = tmp_path / "out"
    assert main(["data", "prepare", "busi", "--root", str(tmp_path), "--out", str(out),
                 "--size", "8"]) == 0  # fmt: skip
    assert len(read_prepared_manifest(out)) == 9
    assert "benign (99).png" in capsys.readouterr().out
    # a finished folder is not silently redone
    assert main(["data", "prepare", "busi", "--root", str(tmp_path), "--out", str(out)]) == 2


def test_an_input_named_like_a_partial_file_is_not_overwritten(tmp_path):
    """`scan.part.png` and `scan.png`: the first's output must survive the second's write."""
    make_busi(tmp_path, {"benign": 3, "malignant": 3, "normal": 3})
    Image.fromarray(np.full((20, 24), 200, np.uint8)).save(tmp_path / "benign" / "scan.part.png")
    Image.fromarray(np.full((20, 24), 50, np.uint8)).save(tmp_path / "benign" / "scan.png")
    out = tmp_path / "out"
    assert main(["data", "prepare", "busi", "--root", str(tmp_path), "--out", str(out),
                 "--size", "8", "--channels", "1"]) == 0  # fmt: skip
    values = {
        row["path"]: int(np.asarray(Image.open(out / row["path"])).max())
        for row in read_prepared_manifest(out)
        if "scan" in row["path"]
    }
    assert values == {"images/benign/scan.part.png": 200, "images/benign/scan.png": 50}
    assert not list(out.rglob("*.part"))


@pytest.mark.skipif(not REAL_BUSI.is_dir(), reason=f"real BUSI copy not found at {REAL_BUSI}")
def test_real_busi(tmp_path):
    out = tmp_path / "busi"
    assert main(["data", "prepare", "busi", "--root", str(REAL_BUSI), "--out", str(out),
                 "--size", "32"]) == 0  # fmt: skip
    rows = read_prepared_manifest(out)
    assert Counter(row["label"] for row in rows) == {"benign": 437, "malignant": 210, "normal": 133}
    split = Counter(row["split"] for row in rows)
    assert split["train"] / len(rows) == pytest.approx(0.7, abs=0.02)
    assert split["test"] / len(rows) == pytest.approx(0.2, abs=0.02)
    pair = ["images/benign/benign_433.png", "images/malignant/malignant_145.png"]
    copies = json.loads((out / "prepare.json").read_text())["identical_images"]
    assert (copies["sets"], copies["conflicting_classes"]) == (1, [pair])  # one image, two classes
    assert len({row["split"] for row in rows if row["path"] in pair}) == 1
    assert np.asarray(Image.open(out / rows[-1]["path"])).shape == (32, 32, 3)


def test_interrupted_run_resumes_and_loads_as_source(tmp_path):
    from gaunet.data import load_source

    make_busi(tmp_path / "busi", {"benign": 10, "malignant": 10, "normal": 10})
    out = tmp_path / "out"
    args = ["data", "prepare", "busi", "--root", str(tmp_path / "busi"), "--out", str(out),
            "--size", "16"]  # fmt: skip
    assert main(args) == 0
    first = read_prepared_manifest(out)
    meta = json.loads((out / "prepare.json").read_text())
    (out / "prepare.json").write_text(json.dumps({**meta, "status": "incomplete"}))
    (out / "manifest.csv").unlink()
    (out / first[0]["path"]).unlink()
    kept = out / first[1]["path"]
    kept.write_bytes(kept.read_bytes())  # fresh mtime, later compared
    mtime = kept.stat().st_mtime_ns
    assert main([*args, "--size", "16"]) == 0
    assert read_prepared_manifest(out) == first
    assert (out / first[0]["path"]).exists() and kept.stat().st_mtime_ns == mtime
    assert main([*args[:-1], "24"]) == 2  # a finished folder is not redone without --overwrite
    data = load_source(out, size=16, channels=3)
    assert sorted(data.class_names) == ["benign", "malignant", "normal"]
    assert Counter(data.split) == Counter(row["split"] for row in first)
    by_id = dict(zip(clear_ids(out, data), data.groups))
    assert partition([by_id[r["path"]] for r in first]) == partition(
        [r["patient_id"] for r in first]
    )


def test_ctrl_c_says_how_to_continue_and_the_rerun_finishes(tmp_path, capsys, monkeypatch):
    """Ctrl-C (or SIGTERM) mid-run: exit 130 with a line saying to rerun the same command (it
    said only `gaunet data: interrupted`), and the rerun writes what an uninterrupted run does."""
    from gaunet.data.recipes import common

    make_busi(tmp_path / "busi", {"benign": 6, "malignant": 6, "normal": 6})
    args = ["data", "prepare", "busi", "--root", str(tmp_path / "busi"), "--size", "16"]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    resize, calls = common.resize_to, []

    def stopped_at_the_fifth(*a, **k):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return resize(*a, **k)

    monkeypatch.setattr(common, "resize_to", stopped_at_the_fifth)
    capsys.readouterr()
    out = tmp_path / "out"
    assert main([*args, "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "interrupted: rerun the same command to continue" in err and str(out) in err
    assert len(list(out.rglob("*.png"))) == 4 and not (out / "manifest.csv").exists()
    assert main([*args, "--out", str(out)]) == 0
    assert read_prepared_manifest(out) == read_prepared_manifest(tmp_path / "whole")


def test_refuses_non_empty_foreign_out(tmp_path, capsys):
    make_busi(tmp_path / "busi", {"benign": 2, "malignant": 2, "normal": 2})
    assert main(["data", "prepare", "busi", "--root", str(tmp_path / "busi"), "--out",
                 str(tmp_path / "busi")]) == 2  # fmt: skip
    assert "non-empty folder" in capsys.readouterr().err
