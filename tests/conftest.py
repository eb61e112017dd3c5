"""Suite-wide settings: no progress bars, a private decoded-image cache, quiet threads.

One torch thread per test process (issue 30): `make test` shares the machine with whatever else
runs there (another job, a browser), and the tiny networks here only lose to thread contention
on a busy 2-core machine. The OMP/MKL variables reach the subprocesses tests start (they inherit
os.environ) and any library read before torch; torch.set_num_threads covers this process, where
torch may already be imported. A test about threads sets its own count (--threads, num_threads).
`make test` runs one such process per CPU (pytest-xdist, at most 4), so the cores are used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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


@pytest.fixture(scope="session")
def item5_smoke_check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One smoke run of benchmarks/gpu_train_check.py's item-5 stage, as it comes back from the
    GPU: the check's output folder (summary.json, log.txt and item5/, the benchmark folder
    copied back), whose recorded absolute paths lead to a work folder that no longer exists.
    Shared by tests/test_gpu_train_check.py and tests/test_item5_report.py (about 60 s) where
    they run in one test process (pytest-xdist's loadgroup would pin them to one, but it groups
    nothing with pytest 9.2: pytest-xdist issue 1386); a test that changes item5/ works on a
    copy."""
    from test_gpu_train_check import ALL_BUT_ITEM5

    root = Path(__file__).resolve().parents[1]
    base = tmp_path_factory.mktemp("item5-smoke")
    gpu = base / "gpu"
    argv = [sys.executable, str(root / "benchmarks" / "gpu_train_check.py"), str(base / "check")]
    argv += ["--smoke", "--data", "phantom:n=48,classes=2", "--skip", ALL_BUT_ITEM5]
    argv += ["--item5-dir", str(gpu / "item5")]
    env = {**os.environ, "TMPDIR": str(base)}  # its scratch folder stays in this tmp folder
    done = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    shutil.rmtree(gpu)
    return base / "check"
