"""Same seed and config on CPU -> byte-identical generated images, across two separate
processes that each train and generate (different hash seeds, so no set/dict-order luck).
test_generate.py covers one run sampled twice; this covers the whole train + generate path."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys

import torch
from train_helpers import PHANTOM, TINY

from gaunet.training.checkpoint import load_checkpoint

SCRIPT = """
import sys
from gaunet.cli import main
run, out, seed, settings = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
assert main(["train", "--data", "{data}", "--out", run, "--steps", "4", "--seed", seed,
             "--quiet", *settings]) == 0
assert main(["generate", "--run", run, "--out", out, "--per-class", "3", "--seed", "1"]) == 0
"""


def _train_and_generate(folder, hash_seed: str, seed: str = "2"):
    """Train and generate in one fresh process; (sha256 per image file, manifest rows)."""
    settings = [f"--set={k}={v}" for k, v in TINY.items()]
    env = {**os.environ, "GAUNET_NO_PROGRESS": "1", "PYTHONHASHSEED": hash_seed}
    script = SCRIPT.replace("{data}", PHANTOM)
    command = [sys.executable, "-c", script, str(folder / "run"), str(folder / "syn"), seed]
    done = subprocess.run([*command, *settings], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    images = {
        p.relative_to(folder / "syn").as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((folder / "syn").rglob("*.png"))
    }
    with open(folder / "syn" / "manifest.csv", newline="") as handle:
        rows = [{k: v for k, v in r.items() if k != "checkpoint_sha256"} for r in csv.DictReader(handle)]  # fmt: skip
    return images, rows


def test_same_seed_same_files_across_processes(tmp_path):
    first = _train_and_generate(tmp_path / "a", hash_seed="1")
    second = _train_and_generate(tmp_path / "b", hash_seed="2")
    assert len(first[0]) == 6 and len(set(first[0].values())) == 6  # six distinct images
    assert first == second  # image bytes and manifest rows (except the checkpoint hash)
    a, _, _ = load_checkpoint(tmp_path / "a" / "run" / "checkpoints" / "last.pt")
    b, _, _ = load_checkpoint(tmp_path / "b" / "run" / "checkpoints" / "last.pt")
    for part in ("generator", "critic", "ema"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    assert (tmp_path / "a/run/split.csv").read_bytes() == (
        tmp_path / "b/run/split.csv"
    ).read_bytes()
