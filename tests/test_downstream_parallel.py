"""`gaunet benchmark --jobs N` (downstream/parallel.py): cells in N spawned processes write the
rows one process writes, and the generator arms' images are made once, before the cells."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from downstream_helpers import one_quiet_thread, tiny_generator_config

from gaunet.cli import main


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    with one_quiet_thread(monkeypatch):
        yield


def _cells(folder: Path) -> list[str]:
    """results.csv rows without the cell's seconds, in a fixed order."""
    lines = (folder / "results.csv").read_text().splitlines()
    return sorted(line.rsplit(",", 1)[0] for line in lines[1:])


def test_cells_at_once_write_the_rows_of_one_at_a_time(tmp_path: Path) -> None:
    config = tiny_generator_config(tmp_path / "gen.yaml")
    command = [
        "benchmark", "--data", "phantom:n=40,classes=2", "--classifiers", "resnet18,svm",
        "--arms", "none,classic,gaunet", "--fractions", "0.5", "--seeds", "2", "--size", "16",
        "--width", "0.125", "--epochs", "2", "--gen-config", str(config), "--quiet",
    ]  # fmt: skip
    assert main([*command, "--out", str(tmp_path / "one")]) == 0
    assert main([*command, "--out", str(tmp_path / "two"), "--jobs", "2"]) == 0
    one, two = _cells(tmp_path / "one"), _cells(tmp_path / "two")
    assert len(one) == 2 * 3 * 2 * 4 and one == two  # classifiers x arms x seeds x metrics
    # one generator, trained before the cells; every cell logged once
    assert len(list((tmp_path / "two" / "generators").glob("*/run.json"))) == 1
    logged = (tmp_path / "two" / "cells.jsonl").read_text().splitlines()
    assert len(logged) == 12 and len({line for line in logged}) == 12
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    alone = json.loads((tmp_path / "one" / "summary.json").read_text())
    # the same results; only how long each cell took differs between the two runs
    assert all(e.pop("cell_seconds")["cells"] == 2 for e in summary["entries"] + alone["entries"])
    assert summary == alone
    # a rerun finds every cell done
    assert main([*command, "--out", str(tmp_path / "two"), "--jobs", "2"]) == 0
    assert _cells(tmp_path / "two") == one


def test_an_interrupt_stops_the_running_cells_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or SIGTERM to this process alone) while cells run: their rows would be dropped,
    so the workers are killed, not waited for. The pool's shutdown used to wait for every
    running and queued cell (here two ResNet-18 cells of about 30 s each), and a second Ctrl-C
    during that wait left the command hung at exit."""
    import time

    from gaunet.downstream import benchmark

    logged: list[float] = []

    def interrupt_at_the_first_cell(*args: object) -> None:
        logged.append(time.perf_counter())
        raise KeyboardInterrupt  # as Ctrl-C does once a quick SVM cell has ended

    monkeypatch.setattr(benchmark, "_log_cell", interrupt_at_the_first_cell)
    command = [
        "benchmark", "--data", "phantom:n=40,classes=2", "--classifiers", "resnet18,svm",
        "--arms", "none", "--fractions", "1.0", "--seeds", "2", "--size", "16",
        "--width", "0.125", "--epochs", "300", "--patience", "300", "--quiet", "--jobs", "2",
        "--out", str(tmp_path / "bench"),
    ]  # fmt: skip
    assert main(command) == 130
    assert len(logged) == 1 and time.perf_counter() - logged[0] < 10


def test_cells_that_ended_beside_a_failed_one_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed cell (or Ctrl-C) raised at the first result read: cells that had ended at the
    same time were never recorded, and a rerun redid them (minutes each)."""
    from concurrent.futures import ThreadPoolExecutor, wait
    from types import SimpleNamespace

    from gaunet.downstream import parallel

    def run_cell(cell):
        if cell[3] == 0:
            raise RuntimeError("cell 0 failed")
        return [{"seed": cell[3]}]

    def failed_first(futures):  # every cell ended; the failed one is read first
        wait(list(futures))
        yield from sorted(futures, key=lambda f: f.exception() is None)

    monkeypatch.setattr(parallel, "_run_cell", run_cell)
    monkeypatch.setattr(parallel, "as_completed", failed_first)
    monkeypatch.setattr(parallel, "spawned_pool", lambda jobs, **_: ThreadPoolExecutor(jobs))
    grid = SimpleNamespace(settings=None, arms_helper=SimpleNamespace(out=None))
    kept: list[tuple[str, list[dict]]] = []
    cells = [("svm", None, 1.0, seed) for seed in range(3)]
    with pytest.raises(RuntimeError, match="cell 0 failed"):
        parallel.run_cells(grid, cells, 3, None, lambda c, rows: kept.append((c, rows)))
    assert sorted(rows[0]["seed"] for _, rows in kept) == [1, 2]


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no signal masks (Windows)")
def test_cell_workers_start_deaf_to_a_terminals_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """The terminal's Ctrl-C reaches every process of its group: workers half-way through
    importing torch each printed a traceback. They start with SIGINT blocked (this process
    kills them on Ctrl-C), and this process's own mask is as before."""
    from types import SimpleNamespace

    from gaunet.downstream import parallel

    masks: list[set] = []
    real_pool = parallel.spawned_pool

    def recording_pool(jobs: int, **_: object):
        pool = real_pool(jobs)
        submit = pool.submit
        # each cell is a call of pthread_sigmask in the worker: its blocked signals
        pool.submit = lambda fn, cell: submit(signal.pthread_sigmask, signal.SIG_BLOCK, [])
        return pool

    monkeypatch.setattr(parallel, "spawned_pool", recording_pool)
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    grid = SimpleNamespace(settings=None, arms_helper=SimpleNamespace(out=None))
    parallel.run_cells(grid, [("svm", None, 1.0, 0)] * 2, 2, None,
                       lambda c, blocked: masks.append(blocked))  # fmt: skip
    assert len(masks) == 2 and all(signal.SIGINT in mask for mask in masks)
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before


def test_the_parents_cuda_cache_is_handed_back_before_workers_spawn(monkeypatch) -> None:
    """Generators trained in this process leave their memory in its CUDA cache: the workers,
    each with its own context, could not use it."""
    import torch

    from gaunet.downstream import parallel

    emptied: list[bool] = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    parallel.spawned_pool(1).shutdown()
    assert emptied == [True]
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    parallel.spawned_pool(1).shutdown()
    assert emptied == [True]  # no CUDA in this process: nothing to hand back
