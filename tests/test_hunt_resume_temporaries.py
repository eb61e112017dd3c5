"""A run killed while it wrote run.json, config.yaml, metrics.jsonl or a sample grid leaves a
`.NAME.tmpPID-…` file next to it (gaunet.io.atomic_file). Only checkpoints/ was tidied (by every
save): those in the run folder itself and in samples/ stayed there for good."""

from __future__ import annotations

from train_helpers import tiny_train

from gaunet.training import train


def test_a_resume_removes_the_temporaries_a_killed_run_left(tmp_path):
    run = tiny_train(tmp_path / "run", steps=5)
    stale = [
        run / ".run.json.tmp4242-0a1b2c3d",
        run / ".config.yaml.tmp4242-0a1b2c3d",
        run / ".metrics.jsonl.tmp4242-0a1b2c3d",
        run / "samples" / ".step-000010.png.tmp4242-0a1b2c3d",
    ]
    for path in stale:
        path.write_bytes(b"half written")
    own = run / ".notes.tmp"  # not a temporary of the run's files: left alone
    own.write_text("mine")
    train(None, run, steps=7, resume=True, progress=False)
    assert [path.name for path in stale if path.exists()] == []
    assert own.read_text() == "mine"
    assert (run / "run.json").is_file() and (run / "samples" / "step-000007.png").is_file()
