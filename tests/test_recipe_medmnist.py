"""`gaunet data prepare medmnist:FLAG`: without the medmnist package, a message saying what to do."""

from __future__ import annotations

import json
import sys
import types
from collections import Counter
from pathlib import Path

import numpy as np

from gaunet.cli import main
from gaunet.data.recipes.common import read_prepared_manifest


def test_without_package_says_to_pass_the_npz(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "medmnist", None)  # import medmnist -> ImportError
    out = tmp_path / "out"
    assert main(["data", "prepare", "medmnist:breastmnist", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "`medmnist` package is not installed" in error
    assert "breastmnist.npz" in error and "SOURCE" in error
    assert not out.exists()


def test_unknown_or_multilabel_flag(tmp_path, capsys):
    assert main(["data", "prepare", "medmnist:chestmnist", "--out", str(tmp_path)]) == 2
    assert "multi-label" in capsys.readouterr().err
    assert main(["data", "prepare", "medmnist:nosuchmnist", "--out", str(tmp_path)]) == 2
    assert "nosuchmnist" in capsys.readouterr().err


def fake_medmnist(fail: bool, copy_across: bool = False) -> types.ModuleType:
    """A stand-in for the medmnist package: INFO, and a dataset class that 'downloads' an npz
    (`copy_across`: its first test image is its first train image, with the same label)."""

    class BreastMNIST:
        def __init__(self, split, download, root):
            if fail:
                raise OSError("network is unreachable")
            rng = np.random.default_rng(0)
            arrays = {}
            for name, n in (("train", 14), ("val", 4), ("test", 6)):
                arrays[f"{name}_images"] = rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
                arrays[f"{name}_labels"] = (np.arange(n) % 2)[:, None]
            if copy_across:
                arrays["test_images"][0] = arrays["train_images"][0]
            np.savez(Path(root) / "breastmnist.npz", **arrays)

    module = types.ModuleType("medmnist")
    module.INFO = {
        "breastmnist": {"python_class": "BreastMNIST", "label": {"0": "malignant", "1": "benign"}}
    }
    module.BreastMNIST = BreastMNIST
    return module


def test_with_package_writes_prepared_dataset_with_official_split(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "medmnist", fake_medmnist(fail=False))
    out = tmp_path / "out"
    assert main(["data", "prepare", "medmnist:breastmnist", "--out", str(out),
                 "--size", "8"]) == 0  # fmt: skip
    rows = read_prepared_manifest(out)
    assert Counter(row["split"] for row in rows) == {"train": 14, "val": 4, "test": 6}
    assert Counter(row["label"] for row in rows) == {"malignant": 12, "benign": 12}


def test_network_failure_is_a_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "medmnist", fake_medmnist(fail=True))
    assert main(["data", "prepare", "medmnist:breastmnist", "--out", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err
    assert "could not download breastmnist (network is unreachable)" in error
    assert "breastmnist.npz" in error


def test_resplit_seed_and_overwrite_reach_the_medmnist_recipe(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "medmnist", fake_medmnist(fail=False, copy_across=True))
    out = tmp_path / "out"
    command = ["data", "prepare", "medmnist:breastmnist", "--out", str(out), "--size", "8"]
    pair = ["images/malignant/train-000000.png", "images/malignant/test-000000.png"]
    assert main(command) == 0
    assert "Pass --resplit" in capsys.readouterr().out
    assert json.loads((out / "prepare.json").read_text())["identical_images"]["across_splits"] == [
        pair
    ]
    assert main(command) == 2  # a finished folder is not redone without --overwrite
    assert main([*command, "--resplit", "--seed", "3", "--overwrite"]) == 0
    meta = json.loads((out / "prepare.json").read_text())
    assert meta["split_rule"].startswith("grouped stratified 7:1:2")
    assert meta["options"]["seed"] == 3 and meta["identical_images"]["across_splits"] == []
    split = {row["path"]: row["split"] for row in read_prepared_manifest(out)}
    assert split[pair[0]] == split[pair[1]]
