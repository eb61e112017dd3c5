"""Is the CPU already busy? Several torch threads on cores that other processes keep busy are
much slower than one: each parallel region waits for its slowest thread, and a thread the system
has put aside for another process holds up every region. Measured with `gaunet train` on a
2-core CPU (docs/performance.md, "Threads on a busy CPU"; benchmarks/cpu_threads_check.sh):
two threads beside one busy process ran 2-3x slower than one thread, beside two 1.5-51x. So a
run that asks for more than one thread samples the cores (and, under a cgroup CPU limit, what
others under it use) first and, when other processes hold them, says so and what to do. How
many CPUs a process may use at all (usable_cpus): its affinity mask, capped by a cgroup CPU
limit (`docker run --cpus`), which the mask does not show.
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
_clock = time.monotonic  # the window over which a cgroup's CPU use is sampled (tests set it)


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
    tightest = limiting_cgroup(root, membership)
    return tightest[0] if tightest else None


def limiting_cgroup(
    root: Path = CGROUP, membership: Path = OWN_CGROUP
) -> tuple[float, Path] | None:
    """The tightest cgroup CPU limit over this process and its folder: every process under that
    folder shares the limit (cpu_limit)."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return None
    limits: list[tuple[float | None, Path]] = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "" and line.startswith("0::"):  # cgroup v2
            limits += [(_v2_limit(folder), folder) for folder in _folders(root, path)]
        elif "cpu" in controllers.split(","):  # cgroup v1, e.g. "4:cpu,cpuacct:/docker/ab12"
            base = root / controllers if (root / controllers).is_dir() else root / "cpu"
            limits += [(_v1_limit(folder), folder) for folder in _folders(base, path)]
    found = [(limit, folder) for limit, folder in limits if limit]
    return min(found, key=lambda pair: pair[0]) if found else None


def cgroup_cpu_seconds(folder: Path, root: Path = CGROUP) -> float | None:
    """CPU seconds every process under a cgroup folder has used so far: cgroup v2 cpu.stat's
    usage_usec, v1 cpuacct.usage (nanoseconds) beside the limit or, where cpuacct is mounted
    apart from cpu, in its own hierarchy at the same path. None where none can be read."""
    try:
        for line in (folder / "cpu.stat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "usage_usec":
                return int(value) / 1e6
    except (OSError, ValueError):
        pass
    candidates = [folder / "cpuacct.usage"]
    if folder.is_relative_to(root) and folder != root:
        controller, *path = folder.relative_to(root).parts
        if controller.startswith("cpu"):  # v1: "cpu" or "cpu,cpuacct"
            candidates.append(root.joinpath("cpuacct", *path, "cpuacct.usage"))
    for usage in candidates:
        try:
            return int(usage.read_text()) / 1e9
        except (OSError, ValueError):
            continue
    return None


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
    """Warn when fewer than `threads` of `cpus` are free, or, under a cgroup CPU limit, when
    other processes under it (`docker run --cpus 2` with two jobs inside) leave less than
    `threads` CPUs of it: the affinity mask shows the host's cores, idle or not, while the
    limit throttles this process. Returns the busy cores of `cpus` (None: not sampled, one
    thread, or no /proc/stat). `option` is how the user asks for one thread."""
    if threads <= 1:
        return None
    limited = limiting_cgroup()
    started = (_clock(), cgroup_cpu_seconds(limited[1])) if limited else (0.0, None)
    busy = busy_cores(cpus)  # this process sleeps meanwhile: the cgroup's use is the others'
    if limited and started[1] is not None:
        used = _cpus_used_since(limited[1], *started)
        if used is not None and limited[0] - used < threads - 0.5:
            _warn_busy(
                f"other processes under this process's CPU limit use {used:.1f} of its "
                f"{limited[0]:g} CPUs",
                threads,
                what,
                option,
            )
            return busy
    if busy is None or len(cpus) - busy >= threads - 0.5:
        return busy
    _warn_busy(
        f"other processes keep {busy:.1f} of the {len(cpus)} CPU cores busy", threads, what, option
    )
    return busy


def _cpus_used_since(folder: Path, started: float, seconds_then: float) -> float | None:
    """CPUs' worth a cgroup used since `started` (time.monotonic) when it had `seconds_then`."""
    seconds_now = cgroup_cpu_seconds(folder)
    elapsed = _clock() - started
    if seconds_now is None or elapsed < 0.05:  # too short a window to say anything
        return None
    return max(0.0, seconds_now - seconds_then) / elapsed


def _warn_busy(who: str, threads: int, what: str, option: str) -> None:
    warnings.warn(
        f"{who}, and {what} asks for {threads} threads: each step waits for threads the system "
        "has set aside (measured 2-3x slower than one thread with one of 2 cores taken, up to "
        f"51x with both; docs/performance.md, 'Threads on a busy CPU'). Use {option} while they "
        "run.",
        GaunetWarning,
        stacklevel=4,
    )


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
