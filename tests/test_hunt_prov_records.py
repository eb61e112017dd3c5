"""Damaged or ambiguous records a benchmark reads back: a run arm's entry in run-arms.json that
is not a record, a manifest row with a negative label, and two periodic files of one step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gaunet.downstream.provenance import RUN_ARMS, check_run_arms, load_synthetic
from gaunet.downstream.snapshots import snapshot_candidates
from gaunet.errors import GaunetError, GaunetWarning


def _run(folder: Path, digest: str) -> Path:
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.pt.sha256").write_text(digest * 64 + "  last.pt\n")
    return folder


def test_a_damaged_entry_of_a_finished_arm_is_said_and_recorded_again(tmp_path):
    """An entry that is not a dict skipped the check and was kept as it was, so that arm was
    never checked again: another run of the same name was taken without a word."""
    out = tmp_path / "bench"
    out.mkdir()
    first, other = _run(tmp_path / "A" / "r1", "a"), _run(tmp_path / "B" / "r1", "b")
    rows = [{"arm": "run:r1"}]
    (out / RUN_ARMS).write_text(json.dumps({"run:r1": "damaged"}))
    with pytest.warns(GaunetWarning, match=r"run:r1.*cannot be checked"):
        check_run_arms(out, {"run:r1": first}, rows)
    assert json.loads((out / RUN_ARMS).read_text())["run:r1"]["checkpoint_sha256"] == "a" * 64
    with pytest.raises(GaunetError, match="arm run:r1"):  # checked again from now on
        check_run_arms(out, {"run:r1": other}, rows)


def _manifest(folder: Path, labels: list[int]) -> Path:
    folder.mkdir()
    lines = ["path,label"]
    for k, label in enumerate(labels):
        Image.fromarray(np.full((8, 8), 40 * k, np.uint8)).save(folder / f"{k}.png")
        lines.append(f"{k}.png,{label}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder / "manifest.csv"


def test_a_negative_label_in_a_manifest_is_refused(tmp_path):
    """Label -1 counted toward the last class through taken[-1] and was returned as -1."""
    manifest = _manifest(tmp_path / "synthetic", [0, -1, 1])
    with pytest.raises(GaunetError, match=r"manifest\.csv.*1\.png.*label -1"):
        load_synthetic(manifest, np.array([1, 1]), 8, 1)
    images, labels = load_synthetic(_manifest(tmp_path / "good", [0, 1]), np.array([1, 1]), 8, 1)
    assert labels.tolist() == [0, 1] and images.shape == (2, 1, 8, 8)


@pytest.mark.parametrize("reverse", [False, True])
def test_two_periodic_files_of_one_step_give_one_choice(tmp_path, monkeypatch, reverse):
    """step-200.pt and step-000200.pt: which one was the candidate followed the glob order."""
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    for name in ("step-000200.pt", "step-200.pt", "step-000100.pt"):
        (folder / name).write_bytes(name.encode())
    glob = Path.glob

    def ordered(self, pattern, *args, **kwargs):
        return iter(sorted(glob(self, pattern, *args, **kwargs), reverse=reverse))

    monkeypatch.setattr(Path, "glob", ordered)
    chosen = {c["step"]: Path(c["checkpoint"]).name for c in snapshot_candidates(folder.parent)}
    assert chosen == {100: "step-000100.pt", 200: "step-000200.pt"}  # the trainer's name
