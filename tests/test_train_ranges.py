"""Issue 30: every numeric argument of `gaunet train` has a range, checked before anything is
written. Out of range is one line (exit 2) and --out is left as it was: not created, or with
the same files; threads beyond the CPUs there are are capped with one warning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from train_helpers import PHANTOM, TINY, one_train_error_line

from gaunet.cli import main
from gaunet.config import load_config
from gaunet.cpu_load import usable_cpus
from gaunet.errors import GaunetError
from gaunet.training import memory, train

TINY_SETS = [f"--set={key}={value}" for key, value in TINY.items()]


def _train(out: Path, *flags: str) -> list[str]:
    return ["train", "--data", PHANTOM, "--out", str(out), "--quiet", *TINY_SETS, *flags]


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--steps", "-5"], "--steps must be at least 1, not -5"),
        (["--steps", "0"], "--steps must be at least 1"),
        (["--minutes", "0"], "--minutes must be a number above 0"),
        (["--minutes", "nan"], "--minutes must be a number above 0"),
        (["--steps", "2", "--seed", "-1"], "--seed must be in 0..4294967295, not -1"),
        (["--steps", "2", "--seed", str(2**40)], "--seed must be in 0..4294967295"),
        (["--steps", "2", "--threads", "-1"], "--threads must be at least 0"),
        (["--steps", "2", "--batch-size", "1"], "--batch-size must be at least 2"),
        (["--steps", "2", "--set", "num_threads=-2"], "num_threads must be at least 0"),
        (["--steps", "2", "--set", "sample_every=-1"], "sample_every must be at least 0"),
        (["--steps", "2", "--set", "checkpoint_minutes=-1"], "checkpoint_minutes must be a"),
        (["--steps", "2", "--set", "checkpoint_minutes=nan"], "checkpoint_minutes must be a"),
        (["--steps", "2", "--set", "g_width=0"], "g_width must be at least 1"),
        (["--steps", "2", "--size", "100000"], "size 100000 with batch_size 4 needs about"),
        (["--steps", "2", "--batch-size", "10000000"], "needs about"),
    ],
)
def test_out_of_range_is_one_line_and_nothing_is_written(tmp_path: Path, capsys, flags, named):
    """Cases 5 and 6 of issue 30 and the smaller ones: --size 100000 took 4 GB in 30 s, --seed -1
    was a numpy traceback, --steps -5 and --minutes 0 left split.csv and train_images.npz."""
    out = tmp_path / "run"
    assert main(_train(out, *flags)) == 2
    one_train_error_line(capsys.readouterr().err, named)
    assert not out.exists()


def test_a_refusal_leaves_an_existing_out_as_it_was(tmp_path: Path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(_train(out, "--size", "100000", "--steps", "2")) == 2
    capsys.readouterr()
    assert main(_train(out, "--steps", "0")) == 2
    # the one-writer lock file (gaunet/locking.py) is emptied on release, by design
    assert sorted(p.name for p in out.iterdir() if p.name != ".gaunet.lock") == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"


def test_the_size_refusal_names_the_estimate_and_the_memory_there_is(tmp_path, capsys):
    assert main(_train(tmp_path / "run", "--size", "100000", "--steps", "2")) == 2
    line = one_train_error_line(capsys.readouterr().err, "for one training step", "available")
    assert " TB " in line or " PB " in line  # far beyond any machine, and said so


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": -5}, "steps must be at least 0"),
        ({"minutes": 0}, "no budget"),
        ({"steps": 2, "seed": -1}, "seed must be in 0"),
        ({"steps": 2, "overrides": {**TINY, "size": 100000}}, "needs about"),
    ],
)
def test_the_python_api_checks_the_same_before_writing(tmp_path: Path, kwargs, match):
    out = tmp_path / "run"
    kwargs.setdefault("overrides", TINY)
    with pytest.raises(GaunetError, match=match):
        train(PHANTOM, out, config="cpu-tiny", progress=False, **kwargs)
    assert not out.exists()


def test_threads_beyond_the_cpus_are_capped_with_a_warning(tmp_path: Path, capsys):
    """Case 7 of issue 30: --threads 9999 was accepted and three 18 s steps took minutes."""
    out = tmp_path / "run"
    assert main(_train(out, "--steps", "2", "--threads", "9999")) == 0
    err = capsys.readouterr().err
    assert f"warning: num_threads 9999 is more than the {usable_cpus()} CPU(s)" in err, err
    assert yaml.safe_load((out / "config.yaml").read_text())["num_threads"] == usable_cpus()


def test_the_estimate_stays_below_what_training_was_measured_to_take():
    """A lower bound, so a size that trains is never refused: paper at 256 px, batch 32 peaked
    at 30.3 GB on a GPU (docs/guide.md); the CPU peaks of benchmarks/memory_calibration.py."""
    paper = load_config("paper", {"batch_size": 32})
    assert sum(memory.estimate_bytes(paper, 780)) < 30.3e9
    measured = [("cpu-tiny", 16, 128, 1063), ("cpu-small", 8, 128, 2538), ("paper", 4, 128, 2965)]
    for preset, batch, size, peak_mb in measured:
        cfg = load_config(preset, {"batch_size": batch, "size": size})
        assert sum(memory.estimate_bytes(cfg, 48)) < peak_mb * 2**20, preset


def test_the_memory_check_refuses_with_both_numbers(monkeypatch: pytest.MonkeyPatch):
    import torch

    cfg = load_config("cpu-tiny", {"size": 512})
    monkeypatch.setattr(memory, "host_available", lambda: 100 * 2**20)
    with pytest.raises(GaunetError, match=r"needs about .* GB for one training step; .* 100 MB"):
        memory.check_memory(cfg, torch.device("cpu"), 1000)
    monkeypatch.setattr(memory, "host_available", lambda: 64 * 2**30)
    memory.check_memory(cfg, torch.device("cpu"), 1000)


def test_image_count_is_known_cheaply_or_the_fewest(tmp_path: Path):
    arrays = {}
    for part, n in (("train", 5), ("val", 3), ("test", 2)):
        arrays[f"{part}_images"] = np.zeros((n, 8, 8), np.uint8)
        arrays[f"{part}_labels"] = np.zeros((n, 1), np.int64)
    np.savez(tmp_path / "x.npz", **arrays)
    assert memory.image_count(str(tmp_path / "x.npz")) == 10
    assert memory.image_count("phantom:n=7,classes=3") == 21
    assert memory.image_count(str(tmp_path)) == 2  # a folder: not counted (lower bound)
