"""Which checkpoint a generation or a benchmark arm uses: a --checkpoint outside RUN/checkpoints
is refused (its training images would be read from beside its folder), and a synthetic folder
made from the checkpoint a run actually loads (last.pt corrupt: its newest periodic file) is
reused, not made again on every benchmark run."""

from __future__ import annotations

import csv
import shutil
import warnings
from pathlib import Path

import pytest
from train_helpers import tiny_train

from gaunet.errors import GaunetError
from gaunet.generate import generate_dataset


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A run with a periodic step-000020.pt and last.pt at step 25."""
    return tiny_train(tmp_path_factory.mktemp("prov") / "run", steps=25, periodic_every=20)


def test_a_checkpoint_outside_the_runs_checkpoints_folder_is_refused(run, tmp_path):
    """RUN/x.pt was accepted, and its conditioning images read from RUN's parent folder: a
    missing-file error there, or (a train_images.npz beside the run) another run's images."""
    copy = tmp_path / "home"
    shutil.copytree(run, copy / "run")
    stray = copy / "run" / "x.pt"
    shutil.copy(copy / "run" / "checkpoints" / "last.pt", stray)
    shutil.copy(copy / "run" / "train_images.npz", copy / "train_images.npz")
    with pytest.raises(GaunetError, match=r"x\.pt.*checkpoints/\*\.pt"):
        generate_dataset(copy / "run", tmp_path / "out", 2, checkpoint=stray)
    assert not (tmp_path / "out").exists()
    nested = copy / "run" / "checkpoints" / "old" / "last.pt"
    nested.parent.mkdir()
    shutil.copy(copy / "run" / "checkpoints" / "last.pt", nested)
    with pytest.raises(GaunetError, match=r"checkpoints/\*\.pt"):
        generate_dataset(copy / "run", tmp_path / "out", 2, checkpoint=nested)
    # the run's own checkpoints, the folder of them, and the run folder itself still serve
    periodic = copy / "run" / "checkpoints" / "step-000020.pt"
    assert generate_dataset(copy / "run", tmp_path / "a", 2, checkpoint=periodic).is_file()
    made = generate_dataset(
        copy / "run", tmp_path / "b", 2, checkpoint=copy / "run" / "checkpoints"
    )
    assert made.is_file()


def test_images_of_the_fallback_checkpoint_are_reused(run, tmp_path):
    """last.pt corrupt: generation falls back to step-000020.pt, but its images were compared
    with last.pt's sidecar, never matched, and were made again on every benchmark run."""
    from gaunet.downstream.provenance import made_by_checkpoint

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    last = copy / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:100])  # truncated, its sidecar kept
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        manifest = generate_dataset(copy, tmp_path / "synthetic", 2)
        with open(manifest, newline="") as handle:
            made = next(csv.DictReader(handle))["checkpoint_sha256"]
        periodic = (copy / "checkpoints" / "step-000020.pt.sha256").read_text().split()[0]
        assert made == periodic  # the images are the fallback's
        assert made_by_checkpoint(manifest, copy / "checkpoints")
        # a run retrained in place (another periodic file now) still has its images made again
        (copy / "checkpoints" / "step-000020.pt.sha256").write_text("b" * 64 + "  x\n")
        assert not made_by_checkpoint(manifest, copy / "checkpoints")
