"""Patient identifiers (DICOM PatientID, manifest patient_id, identifying file names) never reach
an output file: split.csv, train_images.npz, checkpoints, the cache, `gaunet evaluate --json`.
Ids stay stable across loads, so apply_split and the benchmark's provenance checks still work.
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from data_helpers import clear_ids, make_dicom, pattern, write_csv, write_image
from train_helpers import tiny_train

from gaunet.data import apply_split, load_source
from gaunet.data.ids import dataset_salt, lookup, opaque

SECRET = "SECRETPAT"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def _dicom_source(root: Path) -> Path:
    """8 DICOM files of 4 patients whose PatientID and file names carry the identifier."""
    rows = []
    for k in range(8):
        patient = f"{SECRET}-{k // 2:04d}"
        name = f"{patient}_slice{k}.dcm"
        make_dicom(root / name, pattern(k, 24).astype(np.uint16) * 16, patient_id=patient)
        rows.append([name, "nodule" if k % 4 < 2 else "clear"])
    return write_csv(root / "labels.csv", ["path", "label"], rows)


def _hits(blob: bytes) -> bool:
    return any(SECRET.encode(enc) in blob for enc in ("utf-8", "utf-32-le", "utf-16-le"))


def leaks(folder: Path) -> list[str]:
    """Every file under `folder` (and every member of zip files: .npz, torch checkpoints, and
    every string array of .npz files) that contains the identifier."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if _hits(path.read_bytes()):
            found.append(str(path))
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                found += [f"{path}:{m}" for m in archive.namelist() if _hits(archive.read(m))]
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                for key in arrays.files:
                    value = arrays[key]
                    if value.dtype.kind == "U" and any(SECRET in str(v) for v in value.ravel()):
                        found.append(f"{path}[{key}]")
    return found


def test_no_identifier_in_run_folder_or_cache(tmp_path):
    source = _dicom_source(tmp_path / "data")
    run = tiny_train(tmp_path / "run", steps=2, data=str(source), seed=0)
    assert (run / "split.csv").is_file() and (run / "train_images.npz").is_file()
    assert list((tmp_path / "cache").glob("*.npz")), "the cache was written"
    assert leaks(run) == [] and leaks(tmp_path / "cache") == []
    # the split still groups by patient: two slices of one patient share a split
    with open(run / "split.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_group: dict[str, set[str]] = {}
    for row in rows:
        by_group.setdefault(row["group"], set()).add(row["split"])
    assert len(by_group) == 4 and all(len(s) == 1 for s in by_group.values())


def test_ids_stay_stable_so_saved_splits_and_provenance_still_work(tmp_path):
    from gaunet.downstream.provenance import check_provenance, check_run_matches
    from gaunet.generate import generate_dataset

    source = _dicom_source(tmp_path / "data")
    run = tiny_train(tmp_path / "run", steps=2, data=str(source), seed=0)
    again = apply_split(load_source(source, size=32, channels=1), run / "split.csv")  # no cache
    train_ids = {str(i) for i in again.where_split("train").ids}
    check_run_matches(run, train_ids, 1.0)
    manifest = generate_dataset(run, tmp_path / "synthetic", per_class=2, seed=0)
    check_provenance(manifest, run, train_ids)
    assert leaks(tmp_path / "synthetic") == []
    # whoever has the data can map opaque ids back to files
    names = lookup(source, again.ids)
    assert sorted(names.values()) == sorted(f"{SECRET}-{k // 2:04d}_slice{k}.dcm" for k in range(8))


def test_salt_depends_on_the_whole_file_list():
    one = dataset_salt(["a.png", "b.png"])
    assert one == dataset_salt(["b.png", "a.png", "a.png"])
    assert opaque(one, "a.png") != opaque(dataset_salt(["a.png", "c.png"]), "a.png")
    assert opaque(one, "a.png") != opaque(one, "a.png", "group")


def test_evaluate_json_has_no_file_names(tmp_path):
    from gaunet.cli import main

    real = tmp_path / "real"
    for k in range(24):
        write_image(real / ("a" if k % 2 else "b") / f"{SECRET} {k:03d}.png", seed=k, size=20)
    synthetic = tmp_path / "synthetic"  # the layout `gaunet generate` writes
    rows = [[f"a/{k:06d}.png", 0, "a", "x", 0, "0" * 64] for k in range(8)]
    for k in range(8):
        write_image(synthetic / "a" / f"{k:06d}.png", seed=100 + k)
    header = ["path", "label", "class", "source_id", "seed", "checkpoint_sha256"]
    write_csv(synthetic / "manifest.csv", header, rows)
    out = tmp_path / "eval" / "result.json"
    fast = ["--size", "16", "--domain-steps", "5", "--domain-size", "16", "--kid-subsets", "2"]
    args = ["evaluate", "--real", str(real), "--synthetic", str(synthetic), "--split", "train"]
    assert main([*args, "--features", "domain", "--json", str(out), *fast]) == 0
    result = json.loads(out.read_text())
    pairs = result["memorization"]["pixel"]["closest_pairs"]
    assert pairs and all(len(p["train_id"]) == 16 for p in pairs)
    assert SECRET not in out.read_text()
    assert all(p["synthetic_id"].startswith("a/") for p in pairs)  # generated ids stay readable
    assert leaks(tmp_path / "eval") == []
    data = load_source(real, size=16)
    assert clear_ids(real, data.subset(np.arange(2))) == [
        f"a/{SECRET} 001.png",
        f"a/{SECRET} 003.png",
    ]
