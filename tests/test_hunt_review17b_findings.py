"""Review of 4125f71..HEAD (hunt 17b): problems the latest changes left or introduced.

Each test failed on the code it reviewed (a real bug, found by the review and fixed since)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from test_hunt_demoview_report import _parsed

from gaunet.data import load_source
from gaunet.demo import reproduce_commands
from gaunet.io import pin_settings
from gaunet.metrics.identical import identical_to_real, identical_verdicts
from gaunet.metrics.verdict_types import UNUSABLE


def test_printed_demo_command_keeps_integer_options_parseable() -> None:
    settings = {"data": "x.npz", "seed": 20240601, "train_steps": 1_000_000,
                "eval_images": 1_000_000}  # fmt: skip
    demo = _parsed(reproduce_commands(settings, num_classes=2))["demo"]
    assert (demo.seed, demo.train_steps, demo.eval_images) == (20240601, 1_000_000, 1_000_000)


def test_benchmark_settings_accept_the_same_data_with_and_without_tilde(
    tmp_path: Path, monkeypatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "x.npz").write_bytes(b"not read here")
    monkeypatch.setenv("HOME", str(home))
    record = tmp_path / "benchmark.json"
    pin_settings(record, {"data": "~/x.npz"}, ["data"], paths=("data",))
    state = pin_settings(record, {"data": str(home / "x.npz")}, ["data"], paths=("data",))
    assert state["data"] == "~/x.npz"


def test_a_real_set_copied_whole_is_unusable_even_when_most_frames_are_blank() -> None:
    real = load_source("phantom:n=40,classes=2,seed=0", size=16, channels=1)
    images = real.images.copy()
    images[: int(0.9 * len(images))] = 0  # 90 % blank slices, as in an unwindowed volume
    real = dataclasses.replace(real, images=images)
    reference = real.subset(np.arange(0, len(real), 2))
    entry = identical_to_real(real, reference, real)  # --synthetic names the real data
    (verdict,) = identical_verdicts({"identical_to_real": entry})
    assert verdict.level == UNUSABLE
