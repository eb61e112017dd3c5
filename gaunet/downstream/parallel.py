"""A benchmark's cells several at once (`gaunet benchmark --jobs N`), a spawned process each.

Why: a small cell (ResNet-18 at 28 px) leaves a GPU idle while Python launches its kernels one
by one, and other processes fill those gaps; a CPU with N cores runs N one-thread cells. Every
cell is seeded on its own (fit.py), so a cell's rows do not depend on which process ran it or
when. This process keeps the folder's lock and writes results.csv as cells finish; the
generator arms' images are made here first, so the workers only read them.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

from gaunet.data import ImageSet
from gaunet.downstream.arms import Arm
from gaunet.downstream.cells import Grid
from gaunet.interrupts import sigint_held

Cell = tuple[str, Arm, float, int]  # classifier, arm, fraction, seed

_grid: Grid | None = None  # a worker's grid, built once by _start_worker


def auto_jobs(threads: int, most: int = 4) -> int:
    """Processes for cells when none are asked for: one per usable CPU (`threads` each), at
    most `most` (each process holds its own copy of the data and networks)."""
    from gaunet.cpu_load import usable_cpus

    return max(1, min(most, usable_cpus() // max(1, threads)))


def spawned_pool(jobs: int, **kwargs: object) -> ProcessPoolExecutor:
    """`jobs` fresh processes (spawned, not forked: each gets its own CUDA context). The memory
    this process's CUDA cache holds (the generators it trained, freed but cached) is handed
    back first, or the workers could not use it."""
    if torch.cuda.is_initialized():
        import gc

        gc.collect()
        torch.cuda.empty_cache()
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, **kwargs)  # type: ignore[arg-type]


def run_cells(
    grid: Grid,
    todo: list[Cell],
    jobs: int,
    data: ImageSet | None,
    finished: Callable[[str, list[dict]], None],
) -> None:
    """Every cell of `todo` in `jobs` processes; `finished(classifier, rows)` here as each ends.
    `data`: the ImageSet the caller gave run_benchmark (None: the workers read the source)."""
    # the generator and run arms' images are made before (benchmark._run_grid): the workers
    # read them from the folder
    setup = (grid.settings, grid.arms_helper.out, data, torch.get_num_threads())
    with spawned_pool(jobs, initializer=_start_worker, initargs=setup) as pool:
        futures: dict = {}
        done = set()
        try:
            # the workers start here and never see a terminal's Ctrl-C: this process kills them
            with sigint_held():
                futures.update({pool.submit(_run_cell, cell): cell for cell in todo})
            for future in as_completed(futures):
                done.add(future)
                finished(futures[future][0], future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            _stop_workers(pool)
            _keep_finished(futures, done, finished)
            raise


def _keep_finished(futures: dict, done: set, finished: Callable[[str, list[dict]], None]) -> None:
    """After a failed cell or Ctrl-C: the cells that ended beside it, not yet recorded, are
    recorded (a rerun redid them: minutes each)."""
    for future, cell in futures.items():
        if future in done or not future.done() or future.cancelled():
            continue
        if future.exception() is None:
            try:
                finished(cell[0], future.result())
            except Exception:  # noqa: BLE001 - the error being raised is the one to report
                return


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Ctrl-C, SIGTERM or a failed cell: the running cells' rows would be dropped (a rerun
    redoes those cells) and the workers write nothing, so they are killed, not waited for. The
    pool's shutdown waited for every running and queued cell (minutes each), a SIGTERM sent to
    this process alone (`docker stop`, `kill`) never reached them, and a second Ctrl-C during
    that wait left the command hung at exit."""
    for process in live_processes(pool):
        process.kill()


def live_processes(pool: ProcessPoolExecutor) -> list[multiprocessing.process.BaseProcess]:
    """The pool's running processes. The executor keeps them private (`_processes`): a Python
    that drops it gives none, and the callers fall back to the pool's own wait."""
    processes = (getattr(pool, "_processes", None) or {}).values()
    return [process for process in list(processes) if process.is_alive()]


def _start_worker(settings: object, out: Path, data: ImageSet | None, threads: int) -> None:
    from gaunet.downstream.benchmark import worker_grid
    from gaunet.interrupts import raise_on_sigterm

    global _grid
    os.environ["GAUNET_NO_PROGRESS"] = "1"  # the parent shows one bar
    raise_on_sigterm()
    torch.set_num_threads(threads)
    _grid = worker_grid(settings, out, data)  # type: ignore[arg-type]


def _run_cell(cell: Cell) -> list[dict]:
    assert _grid is not None, "the worker was not started"
    return _grid.run_cell(*cell)
