"""Progress bars (gaunet/progress.py): a worker's bars relayed to its parent's bar, as
`gaunet benchmark --subset-seeds --jobs N` shows them."""

from __future__ import annotations

import os
import queue
import signal
from pathlib import Path

import pytest

import gaunet.progress as progress_module
from gaunet.cli import main
from gaunet.progress import BarState, WorkerBars, progress, relay_bars, silenced


@pytest.fixture
def relayed(monkeypatch: pytest.MonkeyPatch) -> queue.Queue:
    """This process as a worker whose bars go to the returned queue (bars on, as in a worker
    of a parent that shows its own); the relay is undone afterwards."""
    monkeypatch.delenv("GAUNET_NO_PROGRESS", raising=False)
    monkeypatch.setattr(progress_module, "_relay", None)
    states: queue.Queue = queue.Queue()
    relay_bars(states, "subset 3")
    return states


def drain(states: queue.Queue) -> list[BarState]:
    taken = []
    while not states.empty():
        taken.append(states.get_nowait())
    return taken


def test_a_relayed_bar_sends_its_state_and_draws_nothing(relayed, capsys) -> None:
    with progress(total=50, desc="train", unit="step") as bar:
        for step in range(50):
            bar.update(1)
            bar.set_postfix_str(f"d={step}")  # redraws at once, as the training loop's fields do
    sent = drain(relayed)
    assert sent[0] == BarState("subset 3", "train", 0, 50, "step", None)  # at its start
    assert (sent[-1].n, sent[-1].total, sent[-1].label) == (50, 50, "subset 3")  # at its end
    assert len(sent) <= 4  # 50 quick redraws, at most one state per RELAY_SECONDS in between
    assert capsys.readouterr().err == ""


def test_a_new_description_is_relayed_without_tqdms_colon(relayed, monkeypatch) -> None:
    monkeypatch.setattr(progress_module, "RELAY_SECONDS", 0.0)
    with progress(total=10, desc="train (warm-up)", unit="step") as bar:
        bar.update(3)
        bar.set_description("train")
    descriptions = [state.desc for state in drain(relayed)]
    assert descriptions[0] == "train (warm-up)" and descriptions[-1] == "train"


def test_a_quiet_worker_relays_nothing(relayed, capsys) -> None:
    with silenced(), progress(total=5, desc="train") as bar:
        bar.update(5)
    assert relayed.empty() and capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "state, text",
    [
        (
            BarState("subset 0", "train", 1200, 5352, "step", 0.66),
            "subset 0: train 1200/5352 step (0.66 step/s, 1:44:50 left)",
        ),
        (BarState("subset 1", "benchmark", 0, 60, "cell", None), "subset 1: benchmark 0/60 cell"),
        (
            BarState("subset 1", "benchmark", 60, 60, "cell", 0.1),
            "subset 1: benchmark 60/60 cell (0.1 cell/s)",
        ),
        (
            BarState("subset 2", "generate", 5, None, "img", 2.0),
            "subset 2: generate 5 img (2 img/s)",
        ),
    ],
)
def test_a_state_reads_as_one_line(state: BarState, text: str) -> None:
    assert state.describe() == text


def test_the_parent_shows_each_running_tasks_latest_state() -> None:
    states: queue.Queue = queue.Queue()
    for state in [
        BarState("subset 0", "train", 10, 100, "step", None),
        BarState("subset 1", "benchmark", 2, 60, "cell", None),
        BarState("subset 0", "train", 20, 100, "step", None),
    ]:
        states.put(state)
    workers = WorkerBars(states)
    workers.poll()
    assert workers.line() == "subset 0: train 20/100 step | subset 1: benchmark 2/60 cell"
    assert workers.pop("subset 0") == BarState("subset 0", "train", 20, 100, "step", None)
    workers.poll()  # nothing new: nothing changes
    assert workers.line() == "subset 1: benchmark 2/60 cell"
    assert workers.pop("subset 7") is None


def test_subset_folders_at_once_show_their_own_bars(tmp_path: Path, monkeypatch, capfd) -> None:
    """--jobs 2 over three subsets: each finished folder's line carries its own last state,
    relayed from its process (the manager's queue orders it before the folder's result)."""
    monkeypatch.delenv("GAUNET_NO_PROGRESS", raising=False)
    command = [
        "benchmark", "--data", "phantom:n=40", "--classifiers", "svm", "--arms", "none,classic",
        "--fractions", "0.5", "--seeds", "2", "--size", "16", "--subset-seeds", "0,1,2",
        "--jobs", "2", "--out", str(tmp_path / "bench"),
    ]  # fmt: skip
    assert main(command) == 0
    err = capfd.readouterr().err
    for seed in range(3):
        assert f"subset seed {seed} done (subset {seed}: benchmark 4/4 cell" in err


@pytest.mark.skipif(not hasattr(signal, "SIGCONT"), reason="no SIGCONT on this system")
@pytest.mark.parametrize("continued", [True, False])
def test_a_stop_and_continue_stays_out_of_the_rate(monkeypatch, continued: bool) -> None:
    """Ctrl-Z, an hour, `fg`: the hour is not folded into the rate (and so the ETA). Without
    the SIGCONT, a one-hour interval between two steps is a slow step, and counts."""
    monkeypatch.delenv("GAUNET_NO_PROGRESS", raising=False)
    clock = [1000.0]
    with progress(total=100, desc="train", unit="step") as bar:
        bar._time = lambda: clock[0]
        bar.start_t = bar.last_print_t = clock[0]
        for _ in range(5):
            clock[0] += 2.0
            bar.update()
        assert bar.format_dict["rate"] == pytest.approx(0.5)
        clock[0] += 3600.0
        if continued:
            os.kill(os.getpid(), signal.SIGCONT)
        for _ in range(2):
            clock[0] += 2.0
            bar.update()
        rate = bar.format_dict["rate"]
    if continued:
        assert rate == pytest.approx(0.5)
    else:
        assert rate < 0.01
