"""Review of today's TrainedGenerator checks against runs that are legitimately the
checkpoint's own, and of the `gaunet train` flag-over-set note."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from train_helpers import PHANTOM, tiny_train

from gaunet import load_generator, load_source
from gaunet.cli import main


def test_a_run_of_a_hand_built_imageset_with_integer_class_names_samples(tmp_path: Path) -> None:
    data = load_source(PHANTOM, size=16, channels=1)
    data = dataclasses.replace(data, class_names=list(range(len(data.class_names))))
    run = tiny_train(tmp_path / "run", steps=1, data=data)  # trains as it always did
    gen = load_generator(run, device="cpu")
    assert gen.sample(0, 2).shape == (2, 1, 16, 16)


def test_the_same_init_from_as_flag_and_set_gives_no_note(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    # the data is missing: train() refuses after the note would be printed, before any work
    code = main(["train", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "o"),
                 "--init-from", "~/src", "--set", "init_from=~/src", "--steps", "1"])  # fmt: skip
    assert code == 2
    assert "note:" not in capsys.readouterr().out
