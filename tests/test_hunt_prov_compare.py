"""`gaunet compare` given a run's checkpoints/ folder (which load_generator takes for the run):
the same run named twice is refused, and --losses reads the run's metrics.jsonl."""

from __future__ import annotations

import pytest
from train_helpers import tiny_train

from gaunet.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_train(tmp_path_factory.mktemp("cmp") / "gaunet", steps=4, log_every=2)


def test_a_run_and_its_checkpoints_folder_are_one_run(run, tmp_path, capsys):
    """RUN and RUN/checkpoints got past the duplicate check: two identical columns."""
    out = tmp_path / "c.png"
    assert main(["compare", "--runs", str(run), str(run / "checkpoints"), "--out", str(out)]) == 2
    assert "gaunet compare: error: --runs names one run twice" in capsys.readouterr().err
    assert not out.exists()


def test_losses_of_a_run_given_by_its_checkpoints_folder(run, tmp_path, capsys):
    """--losses looked for RUN/checkpoints/metrics.jsonl (missing) after the check passed."""
    argv = ["compare", "--runs", str(run / "checkpoints"), "--out", str(tmp_path / "c.png")]
    assert main([*argv, "--losses", str(tmp_path / "l.png"), "--per-class", "1"]) == 0, (
        capsys.readouterr().err
    )
    assert (tmp_path / "c.png").is_file() and (tmp_path / "l.png").is_file()
