"""Decoding threads follow the CPUs this process may use (affinity, a container's CPU limit),
not os.cpu_count(): under `docker --cpus 1` it started 4 threads on a 64-core host."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from gaunet.data.readers import build


@pytest.mark.parametrize(("usable", "workers"), [(1, 1), (2, 2), (64, 4)])
def test_decoding_threads_are_the_usable_cpus_at_most_four(monkeypatch, usable, workers):
    started: list[int] = []

    class Recorded(ThreadPoolExecutor):
        def __init__(self, max_workers: int) -> None:
            started.append(max_workers)
            super().__init__(max_workers)

    monkeypatch.setattr("gaunet.cpu_load.usable_cpus", lambda: usable)
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    monkeypatch.setattr(build, "ThreadPoolExecutor", Recorded)
    monkeypatch.setattr(build, "_decode_one", lambda item, options: item)
    assert build._decode_all([1, 2, 3], None, "decoding") == [1, 2, 3]
    assert started == [workers]
