"""Under a cgroup v2 limit the room was memory.max - memory.current, and memory.current counts
the page cache: a container that had read a few GB of files was "near its limit" and refused
any run (`this machine has 0 B available`), though the kernel reclaims that cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from gaunet.training import memory

GB = 2**30


def _fake_files(monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> None:
    read_text = Path.read_text

    def fake(self: Path, *args, **kwargs) -> str:
        if str(self) in files:
            return files[str(self)]
        if str(self).startswith(("/proc/meminfo", "/sys/fs/cgroup/")):
            raise FileNotFoundError(str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", fake)


def test_the_cgroup_page_cache_counts_as_available(monkeypatch: pytest.MonkeyPatch):
    stat = f"anon {1 * GB}\nfile {6 * GB}\nactive_file {2 * GB}\ninactive_file {4 * GB}\n"
    _fake_files(
        monkeypatch,
        {
            "/proc/meminfo": f"MemTotal: {64 * GB // 1024} kB\nMemAvailable: {60 * GB // 1024} kB\n",
            "/sys/fs/cgroup/memory.max": f"{8 * GB}\n",
            "/sys/fs/cgroup/memory.current": f"{int(7.5 * GB)}\n",
            "/sys/fs/cgroup/memory.stat": stat,
        },
    )
    assert memory.host_available() == int(6.5 * GB)  # 0.5 GB free + 6 GB of page cache


def test_without_memory_stat_the_room_is_the_limit_less_the_usage(
    monkeypatch: pytest.MonkeyPatch,
):
    _fake_files(
        monkeypatch,
        {
            "/proc/meminfo": f"MemAvailable: {60 * GB // 1024} kB\n",
            "/sys/fs/cgroup/memory.max": f"{8 * GB}\n",
            "/sys/fs/cgroup/memory.current": f"{3 * GB}\n",
        },
    )
    assert memory.host_available() == 5 * GB
