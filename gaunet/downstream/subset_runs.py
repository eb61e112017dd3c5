"""`gaunet benchmark --subset-seeds`: one benchmark folder per subset seed, then the pooled report.

With `stack`, the subsets' generators first train together (benchmark.train_generators_together).
With `jobs` > 1, that many folders run at once, each in a process of its own (parallel.py says
why): their generators train side by side too, unless stacked. The folders are independent
(each its own lock, results.csv and generator), so the results are those of running them one
after the other.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark, train_generators_together
from gaunet.downstream.generator_arms import minutes_left
from gaunet.downstream.parallel import live_processes, spawned_pool
from gaunet.downstream.pooled import write_pooled
from gaunet.downstream.results_file import is_finished
from gaunet.downstream.settings_checks import check_benchmark_settings
from gaunet.errors import GaunetError
from gaunet.interrupts import forward_stop, raise_on_sigterm
from gaunet.locking import folder_lock
from gaunet.progress import RELAY_SECONDS, WorkerBars, progress, relay_bars
from gaunet.training.checkpoint import load_checkpoint


def run_subsets(
    settings: BenchmarkSettings,
    out: Path,
    seeds: list[int],
    stack: bool = False,
    jobs: int = 1,
) -> Path:
    """Every subset seed's folder (OUT/subset-S), then OUT/pooled.md, which is returned.
    Bad settings are refused before OUT is made, as run_benchmark refuses them."""
    for seed in seeds:  # each folder's own seed too: a bad one failed after the others ran
        check_benchmark_settings(replace(settings, subset_seed=seed))
    if len(set(seeds)) < 2:
        raise GaunetError(f"subset seeds {seeds}: at least 2 different seeds to pool over")
    if len(set(seeds)) != len(seeds):  # one folder twice: run twice, then refused by the pool
        raise GaunetError(f"subset seeds {seeds}: each seed once")
    folders = [out / f"subset-{seed}" for seed in seeds]
    with folder_lock(out, "benchmark"):  # the parent too: pooled.md is written there
        if stack:
            train_fn = _stacks_by_step(settings.gen_minutes)
            train_generators_together(settings, dict(zip(seeds, folders)), train_fn)
        if jobs > 1:
            _in_parallel(settings, seeds, folders, jobs)
        else:
            for seed, folder in zip(seeds, folders):
                print(f"subset seed {seed}: {folder}", flush=True)
                run_benchmark(replace(settings, subset_seed=seed), folder)
        return write_pooled(out, folders)


def _stacks_by_step(gen_minutes: float | None) -> Callable[..., list[Path]]:
    """train_together for benchmark.train_generators_together, whose generators may be at
    different steps: those of an interrupted stack (or an interrupted unstacked folder) beside
    those of a subset seed added since. Runs at different steps cannot share a stack
    (StackedStepper refused them, and no rerun or `gaunet train --resume` got past that), so
    each step's runs train as a stack of their own, with their own budget: what is left of
    --gen-minutes for resumed runs, all of it for new ones."""
    from gaunet.training import train_together

    def train_fn(data: list, outs: list[Path], **kwargs: Any) -> list[Path]:
        groups: dict[int, list[int]] = {}
        for k, out in enumerate(outs):
            groups.setdefault(0 if data[k] is not None else _checkpoint_step(out), []).append(k)
        if len(groups) == 1:
            return train_together(data, outs, **kwargs)
        print(
            f"(at steps {', '.join(map(str, sorted(groups)))}: trained as {len(groups)} stacks, "
            "one per step)",
            flush=True,
        )
        for members in groups.values():
            part = {**kwargs, "seeds": [kwargs["seeds"][k] for k in members]}
            if gen_minutes:  # a new run has no run.json yet: all of it
                part["minutes"] = max(
                    minutes_left(gen_minutes, outs[k] / "run.json") for k in members
                )
            train_together([data[k] for k in members], [outs[k] for k in members], **part)
        return outs

    return train_fn


def _checkpoint_step(run: Path) -> int:
    """The step a resume of `run` continues from (-1: no usable checkpoint; its resume then
    says why)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a skipped corrupt file: the resume warns again
            state, _, _ = load_checkpoint(run / "checkpoints", map_location="cpu")
        return int(state["step"])
    except (GaunetError, KeyError, TypeError, ValueError):
        return -1


def _in_parallel(
    settings: BenchmarkSettings, seeds: list[int], folders: list[Path], jobs: int
) -> None:
    """The folders in `jobs` spawned processes; one progress bar of finished subsets, whose
    postfix shows each running folder's own bar (its generator's steps, its cells). A failed
    folder raises its error here once the running others have stopped (each keeps its finished
    cells); after that, or Ctrl-C, no waiting folder starts."""
    threads = torch.get_num_threads()
    # Folders an earlier run finished still run (their reports are rewritten, in seconds) but
    # count as done from the start: counted as they ended, they made the bar's rate a subset
    # every few seconds and its time left seconds, with hours of generator training to go.
    finished = {
        seed
        for seed, folder in zip(seeds, folders)
        if is_finished(replace(settings, subset_seed=seed), folder)
    }
    bar = progress(
        total=len(seeds), initial=len(finished), desc=f"subsets ({jobs} at once)", unit="subset"
    )
    with bar, ExitStack() as stack:
        # A manager's queue: a worker's put returns once the state is there, so a folder's
        # last state is read before its result (an mp.Queue's put sends later, in a thread).
        relay = None
        if not bar.disable:
            relay = stack.enter_context(multiprocessing.get_context("spawn").Manager()).Queue()
        workers = WorkerBars(relay)
        pool = stack.enter_context(spawned_pool(jobs, initializer=_start_worker, initargs=(relay,)))
        # Submitted one per free process, never ahead: a submitted folder cannot be taken back
        # (the pool hands it to a process at once), so after Ctrl-C or a failed folder none
        # would start that was still waiting.
        waiting = list(zip(seeds, folders))
        futures: dict[Future, int] = {}

        def start_next() -> Future:
            seed, folder = waiting.pop(0)
            future = pool.submit(_run_one, replace(settings, subset_seed=seed), folder, threads)
            futures[future] = seed
            return future

        pending = {start_next() for _ in range(min(jobs, len(waiting)))}
        shown = None
        try:
            while pending:
                done, pending = wait(pending, timeout=RELAY_SECONDS, return_when=FIRST_COMPLETED)
                workers.poll()
                for future in done:
                    future.result()  # a worker's error (or its Ctrl-C), raised in this process
                    seed = futures[future]
                    last = workers.pop(f"subset {seed}")
                    if relay is not None:
                        line = f"subset seed {seed} done"
                        bar.write(line + (f" ({last.describe()})" if last else ""), file=sys.stderr)
                    if seed not in finished:
                        bar.update(1)
                    if waiting:
                        pending.add(start_next())
                line = workers.line()
                if line != shown:  # a log file gets a line per change, not per poll
                    bar.set_postfix_str(line)
                    shown = line
        except KeyboardInterrupt as stop:
            # the running folders save and stop (the pool's exit waits for them): a SIGTERM to
            # this process alone (`kill`, `docker stop`) never reached them, and they ran on
            forward_stop([process.pid for process in live_processes(pool)], stop)
            raise


_relay_queue = None  # a worker's queue to the parent's bar (None: its bars are off)


def _start_worker(relay: object) -> None:
    global _relay_queue
    _relay_queue = relay


def _run_one(settings: BenchmarkSettings, folder: Path, threads: int) -> Path:
    """One subset's folder in a worker: its bars relayed to the parent's (or off), SIGTERM
    handled as Ctrl-C (its generator saves)."""
    raise_on_sigterm()
    if _relay_queue is None:
        os.environ["GAUNET_NO_PROGRESS"] = "1"
    else:
        relay_bars(_relay_queue, f"subset {settings.subset_seed}")
    torch.set_num_threads(threads)
    return run_benchmark(settings, folder)
