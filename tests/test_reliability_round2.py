"""Issue 15, round 2: hostile cases of `gaunet train` / `gaunet generate`, each through the
command (one line on stderr, exit 2) or the API (GaunetError), with what is left on disk."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_helpers import PHANTOM, TINY, ctrl_c_at, tiny_train

import gaunet.io as io_module
from gaunet.cli import main
from gaunet.errors import GaunetError, GaunetWarning
from gaunet.generate import generate_dataset
from gaunet.locking import LOCK_NAME
from gaunet.training import train
from gaunet.training.checkpoint import load_checkpoint

TINY_ARGS = [f"--set={k}={v}" for k, v in TINY.items() if k != "size"] + ["--size", "16"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_train(tmp_path_factory.mktemp("rel") / "run", steps=3)


def _copy(run: Path, where: Path) -> Path:
    return Path(shutil.copytree(run, where))


def _one_error_line(err: str, *needles: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == 1, err
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


class _FullDisk:
    """A file opened for writing on a full disk: the file is created, every write fails."""

    def __init__(self, handle) -> None:
        self.handle = handle

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()

    def write(self, data) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self.handle.fileno()


def _disk_full_after(module, monkeypatch, good_writes: int) -> None:
    """Writes through `module` (gaunet.io: every atomic write) fail with ENOSPC after some."""
    count = {"n": 0}

    def fake_open(file, mode="r", *args, **kwargs):
        handle = open(file, mode, *args, **kwargs)
        if "w" in mode:
            count["n"] += 1
            if count["n"] > good_writes:
                return _FullDisk(handle)
        return handle

    monkeypatch.setattr(module, "open", fake_open, raising=False)


# ----- generate: where it writes ------------------------------------------------------------
def test_generate_out_is_a_file_or_under_a_file(run, tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("not a folder")
    for out in (target, target / "sub"):
        code = main(["generate", "--run", str(run), "--out", str(out), "--per-class", "1"])
        assert code == 2
        _one_error_line(capsys.readouterr().err, str(target), "is a file")
    assert target.read_text() == "not a folder"


def test_generate_into_a_folder_without_write_permission(run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o500)
    if os.geteuid() == 0:  # root writes anywhere: make the check see what a user would
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m, **k: Path(p) != out and real(p, m, **k))
    try:
        code = main(["generate", "--run", str(run), "--out", str(out), "--per-class", "1"])
    finally:
        out.chmod(0o700)
    assert code == 2
    _one_error_line(capsys.readouterr().err, str(out), "Permission denied")
    assert not list(out.iterdir())


def test_generate_disk_full_leaves_no_partial_file_and_no_manifest(
    run, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "syn"
    generate_dataset(run, out, per_class=3)  # an earlier, complete generation in the same place
    _disk_full_after(io_module, monkeypatch, good_writes=2)
    code = main(
        ["generate", "--run", str(run), "--out", str(out), "--per-class", "3", "--seed", "1"]
    )
    assert code == 2
    line = _one_error_line(capsys.readouterr().err, "No space left on device", "no manifest")
    assert ".png" in line and str(out) in line
    assert not (out / "manifest.csv").exists()  # the old one described files now replaced
    files = [p for p in out.rglob("*") if p.is_file() and p.name != LOCK_NAME]  # (empty)
    assert not [p for p in files if p.name.startswith(".")], files  # no temporaries
    assert "the 2 image file(s) it wrote removed" in line
    assert not [p for p in files if p.suffix == ".png"]  # no PNG left for a manifest-less read


def test_an_interrupted_generation_leaves_no_image_and_the_rerun_lists_every_one(
    run, tmp_path, capsys, monkeypatch
):
    """Interrupted, the written PNGs stayed without a manifest: read as a class-folder
    dataset, and a rerun (which removes what a manifest lists) left them beside its own."""
    import gaunet.generate as generate_module

    out = tmp_path / "syn"
    real_write, calls = generate_module._write_png, []

    def write_then_stop(path: Path, image) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_write(path, image)

    monkeypatch.setattr(generate_module, "_write_png", write_then_stop)
    args = ["generate", "--run", str(run), "--out", str(out), "--per-class", "3", "--quiet"]
    assert main(args) == 130
    assert "images this generation wrote were removed" in capsys.readouterr().err
    assert not list(out.rglob("*.png")) and not (out / "manifest.csv").exists()
    monkeypatch.setattr(generate_module, "_write_png", real_write)
    assert main(args) == 0
    with open(out / "manifest.csv") as handle:
        listed = {line.split(",")[0] for line in list(handle)[1:]}
    assert {str(p.relative_to(out)) for p in out.rglob("*.png")} == listed


def test_generate_disk_full_on_the_manifest_leaves_none(run, tmp_path, monkeypatch):
    _disk_full_after(io_module, monkeypatch, good_writes=4)  # 4 PNGs fit, not the CSV
    with pytest.raises(GaunetError, match=r"manifest\.csv: No space left on device"):
        generate_dataset(run, tmp_path / "syn", per_class=2)
    assert not (tmp_path / "syn" / "manifest.csv").exists()
    assert [p.name for p in (tmp_path / "syn").glob(".*")] == [LOCK_NAME]  # no temporaries


def test_generate_with_a_corrupted_train_images_npz(run, tmp_path, capsys):
    broken = _copy(run, tmp_path / "run")
    npz = broken / "train_images.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    code = main(
        ["generate", "--run", str(broken), "--out", str(tmp_path / "o"), "--per-class", "1"]
    )
    assert code == 2
    _one_error_line(capsys.readouterr().err, str(npz), "cannot read")


# ----- train: where it writes -------------------------------------------------------------------
def test_train_out_is_a_file_or_under_a_file(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    for out in (target, target / "run"):
        code = main(
            ["train", "--data", PHANTOM, "--out", str(out), "--steps", "1", "--quiet", *TINY_ARGS]
        )
        assert code == 2
        _one_error_line(capsys.readouterr().err, str(target), "is a file")


def test_train_into_a_folder_without_write_permission(tmp_path, capsys, monkeypatch):
    out = tmp_path / "locked"
    out.mkdir()
    if os.geteuid() == 0:
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m, **k: Path(p) != out and real(p, m, **k))
    out.chmod(0o500)
    try:
        code = main(
            ["train", "--data", PHANTOM, "--out", str(out), "--steps", "1", "--quiet", *TINY_ARGS]
        )
    finally:
        out.chmod(0o700)
    assert code == 2
    _one_error_line(capsys.readouterr().err, str(out), "Permission denied")


def test_train_disk_full_keeps_the_last_good_checkpoint_and_no_temporaries(
    tmp_path, capsys, monkeypatch
):
    out = tmp_path / "run"
    # train_images.npz, config.yaml, split.csv, the first checkpoint (step 2: data + sidecar)
    # and run.json are written; the next checkpoint (step 4) hits a full disk
    _disk_full_after(io_module, monkeypatch, good_writes=6)
    args = ["train", "--data", PHANTOM, "--out", str(out), "--steps", "6", "--quiet", *TINY_ARGS]
    code = main([*args, "--set=checkpoint_every=2", "--set=sample_every=0"])
    assert code == 2
    _one_error_line(capsys.readouterr().err, str(out / "checkpoints" / "last.pt"), "No space left")
    monkeypatch.undo()
    assert not list((out / "checkpoints").glob(".*.tmp*"))
    state, _, _ = load_checkpoint(out / "checkpoints")
    assert state["step"] == 2


def test_train_resume_with_a_corrupted_train_images_npz(tmp_path, capsys):
    out = tiny_train(tmp_path / "run", steps=2)
    npz = out / "train_images.npz"
    npz.write_bytes(b"PK\x03\x04 definitely not a zip archive")
    code = main(["train", "--out", str(out), "--resume", "--steps", "4", "--quiet"])
    assert code == 2
    _one_error_line(capsys.readouterr().err, str(npz), "cannot read")


# ----- warnings and progress bars ---------------------------------------------------------------
def test_cli_prints_gaunet_warnings_as_one_line_and_hides_torchs_pickle_warning(run, tmp_path):
    """In a real process (pytest would otherwise record the warnings instead of printing)."""
    broken = _copy(run, tmp_path / "run")
    folder = broken / "checkpoints"
    state, _, _ = load_checkpoint(folder / "last.pt")
    torch.save(state, folder / "step-000003.pt", pickle_protocol=3)  # loads, but torch warns
    (folder / "last.pt").write_bytes(b"truncated")  # the fallback warns (gaunet's own)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    command = [sys.executable, "-m", "gaunet", "generate", "--run", str(broken), "--out"]
    done = subprocess.run(
        [*command, str(tmp_path / "o"), "--per-class", "1"],
        env={**env, "OMP_NUM_THREADS": "1", "GAUNET_NO_PROGRESS": "1"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("warning: skipped unusable checkpoint(s) (last.pt: ")
    assert lines[0].endswith("step-000003.pt"), lines[0]


def test_warnings_outside_the_cli_stay_python_warnings(run, tmp_path):
    broken = _copy(run, tmp_path / "run")
    folder = broken / "checkpoints"
    shutil.copy(folder / "last.pt", folder / "step-000003.pt")
    (folder / "last.pt").write_bytes(b"x")
    with pytest.warns(GaunetWarning, match="skipped unusable"):
        generate_dataset(broken, tmp_path / "o", per_class=1)


def test_quiet_prints_no_progress_bar(run, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GAUNET_NO_PROGRESS", raising=False)
    data = tmp_path / "syn"  # a folder SOURCE: its decoding has a progress bar of its own
    generate_dataset(run, data, per_class=6)
    capsys.readouterr()
    args = ["train", "--data", str(data), "--out", str(tmp_path / "r"), "--steps", "2", "--quiet"]
    assert main([*args, *TINY_ARGS]) == 0
    err = capsys.readouterr().err
    assert "%|" not in err and "it/s" not in err and "step/s" not in err, err
    gen = [
        "generate",
        "--run",
        str(tmp_path / "r"),
        "--out",
        str(tmp_path / "g"),
        "--per-class",
        "2",
    ]
    assert main([*gen, "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "%|" not in err and "it/s" not in err and "step/s" not in err, err
    assert main(gen) == 0  # without --quiet the bar is there (the test sees what it tests)
    assert "generate: 100%" in capsys.readouterr().err


# ----- metrics, budgets ---------------------------------------------------------------------------
def test_a_run_shorter_than_log_every_still_logs_its_last_step(tmp_path):
    short = tiny_train(tmp_path / "short", steps=3)  # log_every 5
    records = [json.loads(line) for line in (short / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3] and "loss_g" in records[0]
    longer = tiny_train(tmp_path / "longer", steps=7)
    records = [json.loads(line) for line in (longer / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [5, 7]


def test_run_json_tells_completed_from_budget_exhausted(tmp_path):
    done = json.loads((tiny_train(tmp_path / "done", steps=4) / "run.json").read_text())
    assert (done["status"], done["steps_target"], done["finished"]) == ("completed", 4, True)
    assert done["startup_seconds"] >= 0 and done["first_step_seconds"] > 0

    cut = train(PHANTOM, tmp_path / "cut", overrides={**TINY, "sample_every": 0}, minutes=0.01)
    info = json.loads((cut / "run.json").read_text())
    assert info["steps_target"] == 1000  # cpu-tiny's steps: what the budget fell short of
    assert info["status"] == "budget_exhausted" and info["finished"] is True
    assert info["steps"] < 1000

    # resume with --steps M: that is the target, and reaching it completes the run
    train(None, cut, steps=info["steps"] + 1, resume=True, progress=False)
    again = json.loads((cut / "run.json").read_text())
    assert again["status"] == "completed" and again["steps_target"] == info["steps"] + 1


def test_interrupted_run_is_marked_interrupted(tmp_path, monkeypatch):
    from gaunet.training.loop import Trainer

    ctrl_c_at(monkeypatch, Trainer, 2)
    with pytest.raises(KeyboardInterrupt):
        tiny_train(tmp_path / "run", steps=10)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (info["status"], info["finished"], info["steps_target"]) == ("interrupted", False, 10)


def test_generate_warns_once_when_the_budget_left_the_generator_undertrained(run, tmp_path, capsys):
    short = _copy(run, tmp_path / "run")
    info = json.loads((short / "run.json").read_text())
    info.update(status="budget_exhausted", steps_target=1000)
    (short / "run.json").write_text(json.dumps(info))
    code = main(["generate", "--run", str(short), "--out", str(tmp_path / "o"), "--per-class", "1"])
    assert code == 0
    err = capsys.readouterr().err
    expected = (
        "warning: the generator trained 3 of 1000 steps (its --minutes budget ran out); train "
        f"longer with `gaunet train --out {short} --resume --steps 1000`"
    )
    assert err.splitlines() == [expected]
    info.update(steps_target=6)  # 3 of 6 is half: no warning
    (short / "run.json").write_text(json.dumps(info))
    assert (
        main(["generate", "--run", str(short), "--out", str(tmp_path / "p"), "--per-class", "1"])
        == 0
    )
    assert "warning" not in capsys.readouterr().err


def test_long_messages_are_cut_at_a_word_boundary():
    from gaunet.errors import shorten

    text = "the checkpoint could not be unpickled because " + "something " * 30
    short = shorten(text, 60)
    assert len(short) <= 60 and short.endswith("…")
    assert text.startswith(short[:-1]) and text[len(short) - 1] == " "  # whole words only
    assert shorten("first line\nsecond line") == "first line"
