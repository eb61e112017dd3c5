"""`gaunet benchmark --subset-seeds`: one benchmark folder per subset seed, then the pooled report.

With `stack`, the subsets' generators first train together (benchmark.train_generators_together).
With `jobs` > 1, that many folders run at once, each in a process of its own (parallel.py says
why): their generators train side by side too, unless stacked. The folders are independent
(each its own lock, results.csv and generator), so the results are those of running them one
after the other.
"""

from __future__ import annotations

import os
from concurrent.futures import as_completed
from dataclasses import replace
from pathlib import Path

import torch

from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark, train_generators_together
from gaunet.downstream.parallel import spawned_pool
from gaunet.downstream.pooled import write_pooled
from gaunet.locking import folder_lock
from gaunet.progress import progress


def run_subsets(
    settings: BenchmarkSettings,
    out: Path,
    seeds: list[int],
    stack: bool = False,
    jobs: int = 1,
) -> Path:
    """Every subset seed's folder (OUT/subset-S), then OUT/pooled.md, which is returned."""
    folders = [out / f"subset-{seed}" for seed in seeds]
    with folder_lock(out, "benchmark"):  # the parent too: pooled.md is written there
        if stack:
            train_generators_together(settings, dict(zip(seeds, folders)))
        if jobs > 1:
            _in_parallel(settings, seeds, folders, jobs)
        else:
            for seed, folder in zip(seeds, folders):
                print(f"subset seed {seed}: {folder}", flush=True)
                run_benchmark(replace(settings, subset_seed=seed), folder)
        return write_pooled(out, folders)


def _in_parallel(
    settings: BenchmarkSettings, seeds: list[int], folders: list[Path], jobs: int
) -> None:
    """The folders in `jobs` spawned processes; one progress bar of finished subsets. A failed
    folder raises its error here once the others have stopped (each keeps its finished cells)."""
    threads = torch.get_num_threads()
    with spawned_pool(jobs) as pool:
        futures = {
            pool.submit(_run_one, replace(settings, subset_seed=seed), folder, threads): seed
            for seed, folder in zip(seeds, folders)
        }
        bar = progress(total=len(futures), desc=f"subsets ({jobs} at once)", unit="subset")
        with bar:
            for future in as_completed(futures):
                future.result()  # a worker's error, raised in this process
                bar.set_postfix_str(f"subset seed {futures[future]} done")
                bar.update(1)


def _run_one(settings: BenchmarkSettings, folder: Path, threads: int) -> Path:
    """One subset's folder in a worker: its bars silenced (the parent shows one)."""
    os.environ["GAUNET_NO_PROGRESS"] = "1"
    torch.set_num_threads(threads)
    return run_benchmark(settings, folder)
