"""`gaunet train` checks, then locks, then writes (gaunet/training/api.py): a run refused by any
check never creates --out, without help from the lock's removal of a folder it made (turned off
here, so a lock taken before a refusal would leave the folder behind); the checks that read the
run folder run under the lock, so a second process is refused by the lock, not by them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_locking import HOLD, REFUSED, TIMEOUT, _one_refusal_line, _snapshot, _wait_for_record
from train_helpers import PHANTOM, TINY, tiny_train

import gaunet.locking as locking
from gaunet.cli import main
from gaunet.errors import GaunetError
from gaunet.locking import check_can_create

TINY_SETS = [f"--set={key}={value}" for key, value in TINY.items()]


@pytest.fixture(autouse=True)
def no_clean_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock never removes a folder in these tests: what is not created stays not created."""
    monkeypatch.setattr(locking, "_remove_if_empty", lambda folder, made: None)


def _train(out: Path, *flags: str, data: str = PHANTOM) -> list[str]:
    return ["train", "--data", data, "--out", str(out), "--steps", "2", "--quiet", *TINY_SETS,
            *flags]  # fmt: skip


def _one_train_train_image(path: Path) -> Path:
    """A MedMNIST-style .npz (its split is kept) with one training image: too few to train."""
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in (("train", 1), ("val", 4), ("test", 4)):
        arrays[f"{part}_images"] = rng.integers(0, 256, (n, 16, 16), dtype=np.uint8)
        arrays[f"{part}_labels"] = (np.arange(n) % 2)[:, None]
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_train(tmp_path_factory.mktemp("gan") / "run", steps=1, model="gan", n_critic=1)


REFUSALS = {
    "a width of 0": (["--set=g_width=0"], "g_width"),
    "a negative cadence": (["--set=sample_every=-1"], "sample_every"),
    "the memory": (["--size", "100000"], "needs about"),
    "a missing init_from": (["--init-from", "/nowhere/run"], "no such run folder"),
    "an init_from of another model": (["--init-from", "GAN"], "run cannot start a 'gaunet' run"),
    "a missing source": (["--data", "/nowhere/data.npz"], "/nowhere/data.npz"),
    "one training image": (["--data", "ONE"], "the train split has 1 image(s); need 2+"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refused_train_never_creates_its_out(
    case: str, tmp_path: Path, gan_run: Path, capsys: pytest.CaptureFixture
) -> None:
    flags, named = REFUSALS[case]
    one = str(_one_train_train_image(tmp_path / "one.npz"))
    flags = [{"GAN": str(gan_run), "ONE": one}.get(flag, flag) for flag in flags]
    out = tmp_path / "new" / "run"
    capsys.readouterr()
    assert main([*_train(out), *flags]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err, err
    assert not (tmp_path / "new").exists()


def test_the_python_api_without_a_budget_never_creates_its_out(tmp_path: Path) -> None:
    from gaunet.training import train

    with pytest.raises(GaunetError, match="no budget"):
        train(PHANTOM, tmp_path / "new" / "run", overrides=TINY, minutes=0)
    assert not (tmp_path / "new").exists()


def test_a_refused_resume_never_creates_its_out(tmp_path: Path, capsys) -> None:
    out = tmp_path / "new" / "run"
    assert main(["train", "--out", str(out), "--resume", "--steps", "4", "--quiet"]) == 2
    assert "not a run folder to resume" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_a_refused_init_from_leaves_an_existing_out_as_it_was(tmp_path: Path, gan_run) -> None:
    """The networks and their init_from weights are checked before the first write too."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    before = _snapshot(out)
    assert main([*_train(out), "--init-from", str(gan_run)]) == 2
    assert _snapshot(out) == before  # refused before the lock: not even a lock file


def test_check_can_create_names_what_is_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(GaunetError, match="--out .*file: is a file, not a folder"):
        check_can_create(tmp_path / "file")
    with pytest.raises(GaunetError, match="cannot create it: .*file is a file, not a folder"):
        check_can_create(tmp_path / "file" / "a" / "b", "--out")
    check_can_create(tmp_path / "a" / "b")  # fine, and nothing made
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_second_resume_is_refused_by_the_lock_before_its_own_checks(tmp_path: Path) -> None:
    """The first `--resume` holds the run folder (paused once locked); a second one, whose
    settings its resume checks would refuse, is refused by the lock instead: its checks read the
    run folder only once it holds it. Nothing changes, and the first one trains on."""
    run = tiny_train(tmp_path / "run", steps=2)
    go = tmp_path / "go"
    first = ["train", "--out", str(run), "--resume", "--steps", "4", "--quiet"]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run), str(go), *first],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_record(run, holder)
        before = _snapshot(run)
        second = subprocess.run(
            [sys.executable, "-m", "gaunet", *first[:-1], "--set=g_width=16"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert second.returncode == 2 and REFUSED in second.stderr, second.stderr
        _one_refusal_line(second.stderr, run, holder.pid, "gaunet train")
        assert _snapshot(run) == before
    finally:
        go.touch()
        _, err = holder.communicate(timeout=TIMEOUT)
    assert holder.returncode == 0, err
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 4
