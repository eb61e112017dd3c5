"""One writer per folder (issue 30): the lock itself, and two `gaunet` processes started into the
same folder for every command that writes one. Also `--quiet` on every command that draws a bar.

The races are made deterministic, not timed: the first process runs under HOLD, which pauses it
right after it took the lock (before it writes anything else) until the test says go; the second
is started while it waits. One truly simultaneous start (train) checks the unpaused path. No test
asserts a duration: the timeouts only stop a hung test."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from train_helpers import PHANTOM, TINY, tiny_train

from gaunet.cli import main
from gaunet.data import load_source
from gaunet.errors import GaunetError
from gaunet.generate import generate_dataset
from gaunet.locking import LOCK_NAME, folder_lock, holder

TIMEOUT = 300  # seconds; a safety net against a hung child, never a speed requirement
REFUSED = "is being written by another gaunet process"
BAR = re.compile(r"\[\d\d:\d\d")  # every tqdm bar shows its elapsed time as [MM:SS

# The first process of a race: `python -c HOLD FOLDER GO_FILE gaunet-args...` runs the command,
# pausing right after it locked FOLDER until GO_FILE exists.
HOLD = """
import sys, time
from pathlib import Path
import gaunet.locking as locking
target, go = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
acquire = locking._acquire
def paused(folder, *args):
    fd = acquire(folder, *args)
    while Path(folder).resolve() == target and not go.exists():
        time.sleep(0.02)
    return fd
locking._acquire = paused
from gaunet.cli import main
sys.exit(main(sys.argv[3:]))
"""

# A process that takes the lock, says so, and sleeps (until killed).
SLEEPER = """
import sys, time
from gaunet.locking import folder_lock
with folder_lock(sys.argv[1], "sleeper"):
    print("locked", flush=True)
    time.sleep(600)
"""

# A process that tries the lock once: exit 0 and "got" when it got it, else 2 and the message.
TRY = """
import sys
from gaunet.errors import GaunetError
from gaunet.locking import folder_lock
try:
    with folder_lock(sys.argv[1], "try"):
        print("got")
except GaunetError as error:
    print(error)
    sys.exit(2)
"""

TINY_SETS = [f"--set={k}={v}" for k, v in TINY.items()]


def _env(quiet_bars: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    if not quiet_bars:  # let --quiet alone decide
        env.pop("GAUNET_NO_PROGRESS", None)
    return env


def _gaunet(*args: str) -> list[str]:
    return [sys.executable, "-m", "gaunet", *args]


def _snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder` with its size, modification time and content hash."""
    found = {}
    for path in sorted(folder.rglob("*")):
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        found[path.relative_to(folder).as_posix()] = (stat.st_size, stat.st_mtime_ns, digest)
    return found


def _wait_for_record(folder: Path, process: subprocess.Popen) -> dict:
    """The holder record `process` writes once it holds `folder`'s lock."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        record = holder(folder)
        if record is not None and record["pid"] == process.pid:
            return record
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the first process ended before locking {folder}: {out}\n{err}")
        time.sleep(0.05)
    pytest.fail(f"no holder record in {folder}")


def _one_refusal_line(stderr: str, folder: Path, pid: int, command: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    line = lines[0]
    assert REFUSED in line and str(folder) in line, line
    assert f"pid {pid} on {socket.gethostname()}" in line and command in line, line
    assert re.search(r"since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line), line
    return line


def _race(first: list[str], second: list[str], folder: Path, go: Path, bars: bool = False):
    """Start `first` (paused once it holds `folder`), then `second` into the same folder; check
    that the second is refused with one line naming the holder and changes nothing; let the
    first finish. Returns (first's returncode, stdout, stderr)."""
    holder_process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder), str(go), *first],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(quiet_bars=not bars),
    )
    try:
        record = _wait_for_record(folder, holder_process)
        assert record["command"].startswith(f"gaunet {first[0]}")
        before = _snapshot(folder)
        second_process = subprocess.run(
            _gaunet(*second), capture_output=True, text=True, env=_env(), timeout=TIMEOUT
        )
        assert second_process.returncode == 2, second_process.stderr
        _one_refusal_line(second_process.stderr, folder, holder_process.pid, f"gaunet {first[0]}")
        assert _snapshot(folder) == before  # the refused process changed nothing
    finally:
        go.touch()
        out, err = holder_process.communicate(timeout=TIMEOUT)
    assert holder_process.returncode == 0, err
    return out, err


# ----- the lock ---------------------------------------------------------------------------------


def _try(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", TRY, str(folder)], capture_output=True, text=True, timeout=TIMEOUT
    )


def test_a_second_process_is_refused_with_the_holders_record(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()  # (a folder the lock made would be removed again on release)
    with folder_lock(folder, "train"):
        record = holder(folder)
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        assert record["what"] == "train"
        before = _snapshot(folder)
        refused = _try(folder)
        assert refused.returncode == 2
        message = refused.stdout.strip()
        assert message.startswith(f"{folder} {REFUSED} (pid {os.getpid()} on ")
        assert record["command"][:40] in message and "use another --out" in message
        assert _snapshot(folder) == before
    assert _try(folder).stdout.strip() == "got"  # released after the block
    assert (folder / LOCK_NAME).read_text() == ""  # the record is emptied on release


def test_the_cli_records_its_command_line(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    go = tmp_path / "go"
    args = ["train", "--data", PHANTOM, "--out", str(folder), "--steps", "1", "--quiet"]
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder), str(go), *args, *TINY_SETS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        record = _wait_for_record(folder, process)
    finally:
        go.touch()
        process.communicate(timeout=TIMEOUT)
    assert record["command"].startswith(f"gaunet train --data {PHANTOM} --out {folder}")
    assert process.returncode == 0


def test_nested_acquisition_in_one_process_is_a_no_op(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    with folder_lock(folder, "demo"):
        with folder_lock(tmp_path / "out" / ".." / "out", "train"):  # the same folder
            with folder_lock(folder / "run", "train"):  # another folder: its own lock
                assert _try(folder / "run").returncode == 2
        assert _try(folder).returncode == 2  # the inner exit did not release the outer lock
        assert holder(folder)["what"] == "demo"
    assert _try(folder).returncode == 0


@contextmanager
def _held_by_another_process(folder: Path) -> Iterator[subprocess.Popen]:
    """`folder` locked by a child process for the block; the child is SIGKILLed after it."""
    sleeper = subprocess.Popen(
        [sys.executable, "-c", SLEEPER, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert sleeper.stdout.readline().strip() == "locked"
        yield sleeper
    finally:
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait(timeout=TIMEOUT)


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    with _held_by_another_process(folder) as sleeper:
        assert str(sleeper.pid) in _try(folder).stdout
    assert holder(folder)["pid"] == sleeper.pid  # its record stays, but not its lock:
    with folder_lock(folder, "next"):
        assert holder(folder)["pid"] == os.getpid()


def test_a_folder_the_lock_made_is_removed_when_nothing_was_written(tmp_path: Path) -> None:
    new = tmp_path / "a" / "b"
    with pytest.raises(GaunetError, match="refused by a later check"):
        with folder_lock(new, "train"):
            raise GaunetError("refused by a later check")
    assert not (tmp_path / "a").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    with folder_lock(existing, "train"):
        pass
    assert [p.name for p in existing.iterdir()] == [LOCK_NAME]  # kept, emptied
    with folder_lock(tmp_path / "used", "train") as used:
        (used / "config.yaml").write_text("x: 1\n")
    assert (tmp_path / "used" / "config.yaml").is_file()
    with folder_lock(tmp_path / "kept" / "run", "train", remove_if_unused=False):
        pass  # (train checks before it locks: it never needs the removal)
    assert [p.name for p in (tmp_path / "kept" / "run").iterdir()] == [LOCK_NAME]


@pytest.mark.skipif(sys.platform == "win32", reason="Windows never removes a lock's folder")
def test_a_waiter_makes_the_folder_again_when_its_holder_removed_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A holder removes the folder it made, unused, on release, while another process waits for
    it (it found the lock taken and no record yet). The waiter makes the folder again, parents
    included, and locks it; before, it failed on the missing folder (FileNotFoundError). What it
    made again it removes again when it too writes nothing."""
    import fcntl

    import gaunet.locking as locking

    folder = tmp_path / "new" / "run"
    folder.mkdir(parents=True)
    holders = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holders, fcntl.LOCK_EX | fcntl.LOCK_NB)  # locked, its record not written yet
    slept = []

    def the_holder_releases(seconds: float) -> None:  # what the waiter sleeps through
        if not slept:
            (folder / LOCK_NAME).unlink()
            folder.rmdir()
            folder.parent.rmdir()
            fcntl.flock(holders, fcntl.LOCK_UN)
            os.close(holders)
        slept.append(seconds)

    monkeypatch.setattr(locking.time, "sleep", the_holder_releases)
    with folder_lock(folder, "waiter"):
        assert holder(folder)["what"] == "waiter" and len(slept) == 1
    assert not (tmp_path / "new").exists()


def test_a_file_in_place_of_the_folder_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(GaunetError, match="is a file, not a folder"):
        with folder_lock(tmp_path / "file", "train"):
            pass


# ----- two processes, one folder, for every command that writes a folder -------------------------


def _train_args(out: Path, seed: int, steps: int) -> list[str]:
    return ["train", "--data", PHANTOM, "--out", str(out), "--seed", str(seed),
            "--steps", str(steps), *TINY_SETS]  # fmt: skip


def _run_of(out: Path) -> tuple[int, list[int]]:
    """(seed of the run in `out`, the steps its metrics.jsonl logged)."""
    seed = yaml.safe_load((out / "config.yaml").read_text())["seed"]
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    return seed, steps


def test_train_second_writer_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _race(_train_args(out, 0, 3), _train_args(out, 1, 4), out, tmp_path / "go")
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 0 and run["steps"] == 3 and run["finished"]
    assert _run_of(out)[0] == 0 and max(_run_of(out)[1]) <= 3


def test_train_two_processes_started_at_the_same_moment(tmp_path: Path) -> None:
    """Not paused: both start at once; whichever locks first trains, the other is refused (or,
    if it only got there after the first had finished, finds a finished run)."""
    out = tmp_path / "run"
    processes = [
        subprocess.Popen(
            _gaunet(*_train_args(out, seed, steps)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for seed, steps in ((0, 3), (1, 4))
    ]
    results = [p.communicate(timeout=TIMEOUT) for p in processes]
    codes = [p.returncode for p in processes]
    assert sorted(codes) == [0, 2], results
    winner = codes.index(0)
    loser_err = results[1 - winner][1]
    lines = [line for line in loser_err.splitlines() if line.strip()]
    assert len(lines) == 1, loser_err
    if REFUSED in lines[0]:
        _one_refusal_line(loser_err, out, processes[winner].pid, "gaunet train")
    else:
        assert "already holds a run" in lines[0], lines
    seed, steps = _run_of(out)
    assert seed == winner and json.loads((out / "run.json").read_text())["seed"] == winner
    assert max(steps) <= (3, 4)[winner]  # only the winner's steps were logged


def _benchmark_args(out: Path, seeds: int, *extra: str) -> list[str]:
    return ["benchmark", "--data", PHANTOM, "--out", str(out), "--classifiers", "svm",
            "--arms", "none", "--fractions", "1.0", "--seeds", str(seeds), "--epochs", "1",
            "--size", "16", *extra]  # fmt: skip


def test_benchmark_second_writer_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    _, err = _race(
        _benchmark_args(out, 1, "--quiet"), _benchmark_args(out, 2), out, tmp_path / "go", True
    )
    assert not BAR.search(err), err  # --quiet, with bars otherwise on
    assert json.loads((out / "benchmark.json").read_text())["seeds"] == 1
    rows = (out / "results.csv").read_text().splitlines()[1:]
    assert {row.split(",")[3] for row in rows} == {"0"}  # seed 0 alone: the winner's grid


def test_benchmark_subset_seeds_locks_the_parent_folder(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    first = _benchmark_args(out, 1, "--subset-seeds", "0,1")
    _race(first, _benchmark_args(out, 2, "--subset-seeds", "0,1"), out, tmp_path / "go")
    assert (out / "pooled.md").is_file()
    for seed in (0, 1):
        assert json.loads((out / f"subset-{seed}" / "benchmark.json").read_text())["seeds"] == 1
    # `gaunet pool` writes a folder too
    pooled = tmp_path / "pooled"
    args = ["pool", "--benchmarks", str(out / "subset-0"), str(out / "subset-1"), "--out"]
    with _held_by_another_process(pooled) as sleeper:
        assert main([*args, str(pooled)]) == 2
        _one_refusal_line(capsys.readouterr().err, pooled, sleeper.pid, "python -c")
        assert [p.name for p in pooled.iterdir()] == [LOCK_NAME]
    assert main([*args, str(pooled)]) == 0 and (pooled / "pooled.md").is_file()


def test_data_prepare_second_writer_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "prepared"
    args = ["data", "prepare", "busi", "--root", str(_busi(tmp_path / "busi")), "--out", str(out)]
    with _held_by_another_process(out) as sleeper:
        assert main([*args, "--size", "16"]) == 2
        _one_refusal_line(capsys.readouterr().err, out, sleeper.pid, "python -c")
        assert [p.name for p in out.iterdir()] == [LOCK_NAME]
    assert main([*args, "--size", "16"]) == 0  # the killed holder's lock file is no obstacle
    assert json.loads((out / "prepare.json").read_text())["status"] == "complete"


def _demo_args(out: Path, seed: int, *extra: str) -> list[str]:
    return ["demo", "--data", "phantom:n=30", "--out", str(out), "--steps", "2",
            "--fraction", "0.5", "--eval-images", "10", "--features", "domain",
            "--classifiers", "svm", "--seeds", "1", "--epochs", "1", "--width", "0.25",
            "--size", "16", "--seed", str(seed), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def demo_race(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A demo folder written by the first of two demos (the second refused); its stderr."""
    root = tmp_path_factory.mktemp("demo-race")
    out = root / "demo"
    _, err = _race(_demo_args(out, 0, "--quiet"), _demo_args(out, 1), out, root / "go", True)
    return out, err


def test_demo_second_writer_is_refused(demo_race: tuple[Path, str]) -> None:
    out, err = demo_race
    assert not BAR.search(err), err  # --quiet, with bars otherwise on
    assert json.loads((out / "demo.json").read_text())["settings"]["seed"] == 0
    assert (out / "report.html").is_file()
    for inner in ("runs/gaunet", "synthetic/gaunet", "downstream"):  # each locked in turn
        assert (out / inner / LOCK_NAME).read_text() == ""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_train(tmp_path_factory.mktemp("lock") / "run", steps=2)


def test_generate_second_writer_is_refused(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "syn"
    first = ["generate", "--run", str(run), "--out", str(out), "--per-class", "2", "--seed", "0"]
    second = ["generate", "--run", str(run), "--out", str(out), "--per-class", "3", "--seed", "1"]
    _race([*first, "--quiet"], second, out, tmp_path / "go")
    rows = (out / "manifest.csv").read_text().splitlines()[1:]
    assert len(rows) == 4 and {row.split(",")[4] for row in rows} == {"0"}  # the seed column


def test_readers_skip_the_lock_file(run: Path, tmp_path: Path) -> None:
    """A generated folder is a SOURCE (its manifest, or its class folders), and a run folder is
    read by `generate --run`: the lock file left in each must not count as an image or a problem."""
    out = tmp_path / "syn"
    generate_dataset(run, out, per_class=2)
    assert (out / LOCK_NAME).is_file() and (run / LOCK_NAME).is_file()
    assert len(load_source(out, size=16, channels=1)) == 4
    (out / "manifest.csv").unlink()  # read as a class-folder tree
    data = load_source(out, size=16, channels=1)
    assert len(data) == 4 and not data.problems
    code = main(["evaluate", "--real", PHANTOM, "--synthetic", str(out), "--features", "domain",
                 "--domain-steps", "2", "--size", "16", "--channels", "1"])  # fmt: skip
    assert code == 0


# ----- --quiet on every command that draws a bar -------------------------------------------------


def _image_tree(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(
                root / name / f"{i}.png"
            )
    return root


def _busi(root: Path) -> Path:
    from test_recipe_busi import make_busi

    make_busi(root / "Dataset_BUSI_with_GT", {"benign": 6, "malignant": 6, "normal": 6})
    return root


COMMANDS = {
    "train": lambda t, r: _train_args(t / "run", 0, 2),
    "generate": lambda t, r: ["generate", "--run", str(r), "--out", str(t / "s"), "--per-class", "2"],
    "benchmark": lambda t, r: _benchmark_args(t / "b", 1),
    "evaluate": lambda t, r: ["evaluate", "--real", PHANTOM, "--synthetic", PHANTOM,
                              "--features", "domain", "--domain-steps", "5", "--size", "16"],
    "data inspect": lambda t, r: ["data", "inspect", str(_image_tree(t / "tree")), "--size", "16"],
    "data prepare": lambda t, r: ["data", "prepare", "busi", "--root", str(_busi(t / "busi")),
                                  "--out", str(t / "prep"), "--size", "16"],
}  # fmt: skip


@pytest.mark.parametrize("quiet", [True, False], ids=["quiet", "bars"])
@pytest.mark.parametrize("command", [*COMMANDS, "demo"])
def test_quiet_draws_no_bar(
    command: str,
    quiet: bool,
    run: Path,
    demo_race: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    if command == "demo":  # the finished demo again: only its report step runs (with a bar)
        args = _demo_args(demo_race[0], 0)
    else:
        args = COMMANDS[command](tmp_path, run)
    capsys.readouterr()
    monkeypatch.delenv("GAUNET_NO_PROGRESS", raising=False)
    assert main([*args, "--quiet"] if quiet else args) == 0
    err = capsys.readouterr().err
    assert bool(BAR.search(err)) is not quiet, err
