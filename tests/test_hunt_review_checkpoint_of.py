"""Review of today's `--checkpoint` restriction (gaunet/generation_setup.py checkpoint_of):
`load_generator` and `gaunet compare` now take RUN/checkpoints as the run, but checkpoint_of
refuses a checkpoint of that folder when --run is given that way (it worked before today)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gaunet.errors import GaunetError
from gaunet.generation_setup import checkpoint_of


def _run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for name in ("last.pt", "step-000010.pt"):
        (run / "checkpoints" / name).write_bytes(b"")
    (run / "elsewhere.pt").write_bytes(b"")
    return run


def test_checkpoints_of_the_run_are_taken(tmp_path):
    run = _run(tmp_path)
    step = run / "checkpoints" / "step-000010.pt"
    assert checkpoint_of(run, step) == step
    assert checkpoint_of(run, run / "checkpoints") == run / "checkpoints" / "last.pt"
    assert checkpoint_of(run, run) == run
    with pytest.raises(GaunetError, match="not one of the run's checkpoints"):
        checkpoint_of(run, run / "elsewhere.pt")
    with pytest.raises(GaunetError, match="not inside --run"):
        checkpoint_of(run / "checkpoints", tmp_path / "elsewhere.pt")
    with pytest.raises(GaunetError, match="not one of the run's checkpoints"):  # RUN/checkpoints
        checkpoint_of(run / "checkpoints", run / "elsewhere.pt")  # is RUN


def test_run_given_as_its_checkpoints_folder_takes_its_checkpoint(tmp_path):
    run = _run(tmp_path)
    step = run / "checkpoints" / "step-000010.pt"
    assert checkpoint_of(run / "checkpoints", step) == step
