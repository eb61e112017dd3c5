"""Is the CPU already busy? Several torch threads on cores that other processes keep busy are
much slower than one: each parallel region waits for its slowest thread, and a thread the system
has put aside for another process holds up every region. Measured with `gaunet train` on a
2-core CPU (docs/performance.md, "Threads on a busy CPU"; benchmarks/cpu_threads_check.sh):
two threads beside one busy process ran 2-3x slower than one thread, beside two 1.5-51x. So a
run that asks for more than one thread samples the cores first and, when other processes hold
them, says so and what to do. How many CPUs a process may use at all (usable_cpus): its
affinity mask, capped by a cgroup CPU limit (`docker run --cpus`), which the mask does not show.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from gaunet.errors import GaunetWarning

STAT = Path("/proc/stat")
CGROUP = Path("/sys/fs/cgroup")
OWN_CGROUP = Path("/proc/self/cgroup")


def usable_cpu_set() -> set[int]:
    """The CPUs this process may run on (its affinity mask, e.g. under taskset or a container's
    cpuset), else all the machine's."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def usable_cpus() -> int:
    """How many CPUs this process may use: its affinity mask, capped by a cgroup CPU limit
    (rounded up), which the mask does not show and beyond which threads are throttled."""
    cpus = len(usable_cpu_set())
    limit = cpu_limit()
    return min(cpus, max(1, math.ceil(limit))) if limit else cpus


def cpu_limit(root: Path = CGROUP, membership: Path = OWN_CGROUP) -> float | None:
    """CPUs' worth of time a cgroup limit gives this process (`docker run --cpus 2`, a
    Kubernetes CPU limit: a CFS quota); the tightest of its cgroup's and those above it. None
    without one, or where it cannot be read (not Linux)."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return None
    limits: list[float | None] = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "" and line.startswith("0::"):  # cgroup v2
            limits += [_v2_limit(folder) for folder in _folders(root, path)]
        elif "cpu" in controllers.split(","):  # cgroup v1, e.g. "4:cpu,cpuacct:/docker/ab12"
            base = root / controllers if (root / controllers).is_dir() else root / "cpu"
            limits += [_v1_limit(folder) for folder in _folders(base, path)]
    found = [limit for limit in limits if limit]
    return min(found) if found else None


def _folders(base: Path, path: str) -> list[Path]:
    """`base/path` and each folder above it up to `base`, those that exist: inside a container
    the path may name the host's hierarchy, of which only `base` is mounted."""
    parts = [part for part in path.split("/") if part and part != ".."]
    folders = [base.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]
    return [folder for folder in folders if folder.is_dir()]


def _v2_limit(folder: Path) -> float | None:
    """cpu.max: "QUOTA PERIOD" in microseconds, or "max PERIOD" for none."""
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
        return int(quota) / int(period) if quota != "max" and int(period) > 0 else None
    except (OSError, ValueError):
        return None


def _v1_limit(folder: Path) -> float | None:
    """cpu.cfs_quota_us (-1 for none) over cpu.cfs_period_us."""
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def cpu_times(text: str, cpus: set[int]) -> tuple[int, int] | None:
    """(busy, total) jiffies of the CPUs in `cpus`, summed from /proc/stat's text; None when
    none of them is listed. Idle and iowait count as idle: a core waiting on disk is free."""
    busy = total = 0
    found = False
    for line in text.splitlines():
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or not name[3:].isdigit():
            continue
        if int(name[3:]) not in cpus:
            continue
        values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
        idle = values[3] + values[4]
        total += sum(values)
        busy += sum(values) - idle
        found = True
    return (busy, total) if found else None


def busy_cores(
    cpus: set[int], seconds: float = 0.3, read: Callable[[], str] | None = None
) -> float | None:
    """How many of `cpus` other processes kept busy over the next `seconds` (this process
    sleeps meanwhile); None where /proc/stat cannot be read (not Linux)."""
    read = read or STAT.read_text
    try:
        before = cpu_times(read(), cpus)
        time.sleep(seconds)
        after = cpu_times(read(), cpus)
    except (OSError, ValueError, IndexError):
        return None
    if before is None or after is None or after[1] <= before[1]:
        return None
    return len(cpus) * (after[0] - before[0]) / (after[1] - before[1])


def warn_if_busy(threads: int, cpus: set[int], what: str, option: str) -> float | None:
    """Warn when fewer than `threads` of `cpus` are free. Returns the busy cores (None: not
    sampled, one thread, or no /proc/stat). `option` is how the user asks for one thread."""
    if threads <= 1:
        return None
    busy = busy_cores(cpus)
    if busy is None or len(cpus) - busy >= threads - 0.5:
        return busy
    warnings.warn(
        f"other processes keep {busy:.1f} of the {len(cpus)} CPU cores busy, and {what} asks for "
        f"{threads} threads: each step waits for threads the system has set aside (measured "
        "2-3x slower than one thread with one of 2 cores taken, up to 51x with both; "
        f"docs/performance.md, 'Threads on a busy CPU'). Use {option} while they run.",
        GaunetWarning,
        stacklevel=3,
    )
    return busy


def capped_threads(threads: int, torch_default: int, warn: bool = True) -> int:
    """`threads` (0: torch's default, `torch_default`), or usable_cpus() where it asks for more,
    with one warning: 9999 OpenMP threads on 2 cores made three steps of 18 s take minutes, and
    torch's default ignores a cgroup CPU limit."""
    cpus = usable_cpus()
    asked = threads or torch_default
    if asked <= cpus:
        return threads
    if warn:
        what = f"num_threads {asked}" if threads else f"torch's default of {asked} threads"
        warnings.warn(
            f"{what} is more than the {cpus} CPU(s) this process may use; using {cpus}",
            GaunetWarning,
            stacklevel=3,
        )
    return cpus


def use_threads(threads: int, device_type: str, what: str, option: str) -> None:
    """A command's torch CPU threads (0: torch's choice), then, where its networks run on the
    CPU, the busy-cores warning for that many (`gaunet train` checks its own in
    training/memory.check_resources, before it sets them)."""
    import torch

    threads = capped_threads(threads, torch.get_num_threads())
    if threads > 0:
        torch.set_num_threads(threads)
    if device_type == "cpu":
        warn_if_busy(torch.get_num_threads(), usable_cpu_set(), what, option)
