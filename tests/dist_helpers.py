"""Shared by the multi-process tests: a free port for the rendezvous, and a job watched with a
deadline, so a collective left waiting fails the test instead of hanging the suite."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_watched(worker: Callable, args: tuple, processes: int, seconds: float) -> None:
    """worker(rank, *args) in `processes` spawned processes; killed and failed after `seconds`."""
    job = mp.spawn(worker, args=args, nprocs=processes, join=False)
    deadline = time.monotonic() + seconds
    while not job.join(timeout=2):
        if time.monotonic() > deadline:
            for process in job.processes:
                process.kill()
            pytest.fail(f"the {processes} processes did not finish in {seconds:g} s")
