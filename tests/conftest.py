"""Suite-wide settings: no progress bars, a private decoded-image cache, quiet threads.

One torch thread per test process (issue 30): `make test` shares the machine with whatever else
runs there (another job, a browser), and the tiny networks here only lose to thread contention
on a busy 2-core machine. The OMP/MKL variables reach the subprocesses tests start (they inherit
os.environ) and any library read before torch; torch.set_num_threads covers this process, where
torch may already be imported. A test about threads sets its own count (--threads, num_threads).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("GAUNET_NO_PROGRESS", "1")
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import torch  # noqa: E402 - after the thread variables, so that they apply from its start

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:  # only settable once, before any parallel work: already set, keep it
    pass


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep every test's decoded-image cache (and domain-classifier cache) out of ~/.cache."""
    os.environ["GAUNET_CACHE"] = str(tmp_path_factory.mktemp("gaunet-cache"))
