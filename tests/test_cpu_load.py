"""gaunet/cpu_load.py: the cores other processes keep busy, read from /proc/stat, and the warning
a run with more than one thread gives when they would hold up its threads."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

from gaunet import cpu_load
from gaunet.cli import main
from gaunet.config import load_config
from gaunet.errors import GaunetWarning
from gaunet.training.distributed import Distributed
from gaunet.training.memory import check_resources

# user nice system idle iowait irq softirq steal guest guest_nice
STAT = """cpu  300 0 100 500 100 0 0 0 0 0
cpu0 {busy0} 0 0 {idle0} 0 0 0 0 0 0
cpu1 {busy1} 0 0 {idle1} 50 0 0 0 0 0
intr 12345 0 0
ctxt 999
"""


@pytest.fixture(autouse=True)
def _threads_back() -> object:
    """The commands below set torch's thread count in this process: the next tests get 1."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _stat(busy0: int, idle0: int, busy1: int, idle1: int) -> str:
    return STAT.format(busy0=busy0, idle0=idle0, busy1=busy1, idle1=idle1)


def _two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two CPUs to run two threads on, whatever this machine has: under a cgroup CPU limit of
    one CPU (`docker run --cpus 1` on a many-core host) the threads were capped to 1 and these
    tests failed; the busy cores are faked by each test, the limit's usage is not sampled."""
    monkeypatch.setattr(cpu_load, "usable_cpus", lambda: 2)
    monkeypatch.setattr(cpu_load, "limiting_cgroup", lambda *args: None)


@pytest.mark.parametrize(
    ("cpus", "expected"),
    [
        ({0, 1}, (10 + 30, 10 + 90 + 30 + 70 + 50)),  # iowait (50) counts as idle
        ({1}, (30, 30 + 70 + 50)),
        ({0, 7}, (10, 100)),  # a CPU /proc/stat does not list is left out
        ({7}, None),
    ],
)
def test_cpu_times_sum_the_cpus_asked_for(cpus: set[int], expected: tuple | None) -> None:
    assert cpu_load.cpu_times(_stat(10, 90, 30, 70), cpus) == expected


@pytest.mark.parametrize(
    ("after", "cpus", "busy"),
    [
        ((110, 90, 30, 170), {0, 1}, 1.0),  # cpu0 busy the whole time, cpu1 idle
        ((160, 140, 30, 70), {0, 1}, 2.0 * 150 / 200),  # only cpu0 advanced: 3/4 of it busy
        ((110, 90, 30, 170), {1}, 0.0),
        ((10, 90, 30, 70), {0, 1}, None),  # no time passed: nothing to say
    ],
)
def test_busy_cores_from_two_readings(after: tuple, cpus: set[int], busy: float | None) -> None:
    readings = iter([_stat(10, 90, 30, 70), _stat(*after)])
    got = cpu_load.busy_cores(cpus, seconds=0, read=lambda: next(readings))
    assert got == (None if busy is None else pytest.approx(busy))


def test_busy_cores_is_none_without_proc_stat() -> None:
    def missing() -> str:
        raise FileNotFoundError("/proc/stat")

    assert cpu_load.busy_cores({0}, seconds=0, read=missing) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc/stat")
def test_busy_cores_on_this_machine_is_a_share_of_its_cpus() -> None:
    cpus = cpu_load.usable_cpu_set()
    busy = cpu_load.busy_cores(cpus, seconds=0.1)
    assert busy is not None and 0.0 <= busy <= len(cpus) + 1e-9


@pytest.mark.parametrize(
    ("threads", "cores", "busy", "warned"),
    [
        (2, 2, 1.0, True),  # one of two cores taken: two threads would wait on each other
        (2, 2, 0.3, False),  # a little background work: two threads still fit
        (4, 8, 3.0, False),  # five free cores for four threads
        (4, 8, 5.0, True),
        (2, 2, None, False),  # not Linux: nothing known, nothing said
    ],
)
def test_a_warning_when_other_processes_hold_the_cores(
    monkeypatch: pytest.MonkeyPatch, threads: int, cores: int, busy: float | None, warned: bool
) -> None:
    monkeypatch.setattr(cpu_load, "busy_cores", lambda cpus, seconds=0.3: busy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = cpu_load.warn_if_busy(threads, set(range(cores)), "this run", "--threads 1")
    assert got == busy
    messages = [str(w.message) for w in caught if issubclass(w.category, GaunetWarning)]
    assert bool(messages) == warned
    if warned:
        assert f"keep {busy:.1f} of the {cores} CPU cores busy" in messages[0]
        assert f"asks for {threads} threads" in messages[0] and "Use --threads 1" in messages[0]


def test_one_thread_never_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    def sampled(*args: object, **kwargs: object) -> float:
        raise AssertionError("one thread waits on no other: nothing to sample")

    monkeypatch.setattr(cpu_load, "busy_cores", sampled)
    assert cpu_load.warn_if_busy(1, {0, 1}, "this run", "--threads 1") is None


@pytest.mark.parametrize(("threads", "warned"), [(2, True), (1, False)])
def test_a_training_run_checks_its_threads(
    monkeypatch: pytest.MonkeyPatch, threads: int, warned: bool
) -> None:
    """`gaunet train` and a benchmark's generators start with check_resources: a run asked for
    two threads on cores other processes hold is warned (and goes on), one thread is not."""
    _two_cpus(monkeypatch)
    monkeypatch.setattr(cpu_load, "busy_cores", lambda cpus, seconds=0.3: len(cpus) - 0.2)
    cfg = load_config("cpu-tiny", {"size": 16, "num_threads": threads, "device": "cpu"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_resources(cfg, Distributed(), images=24)
    messages = [str(w.message) for w in caught if issubclass(w.category, GaunetWarning)]
    assert bool(messages) == warned
    if warned:
        assert "this run asks for 2 threads" in messages[0]
        assert "--threads 1 (num_threads: 1)" in messages[0]


def test_gaunet_benchmark_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _two_cpus(monkeypatch)
    monkeypatch.setattr(cpu_load, "busy_cores", lambda cpus, seconds=0.3: float(len(cpus)))
    args = ["benchmark", "--data", "phantom:n=24", "--out", str(tmp_path), "--classifiers", "svm"]
    args += ["--arms", "none", "--fractions", "1", "--seeds", "2", "--size", "16"]
    args += ["--threads", "2", "--device", "cpu"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "warning: other processes keep" in err and "the benchmark asks for 2 threads" in err
    assert (tmp_path / "results.csv").is_file()


@pytest.mark.parametrize(
    ("threads", "device_type", "warned"),
    [(2, "cpu", True), (1, "cpu", False), (2, "cuda:0", False)],
)
def test_use_threads_sets_them_and_warns_on_the_cpu(
    monkeypatch: pytest.MonkeyPatch, threads: int, device_type: str, warned: bool
) -> None:
    """The benchmark's and the demo's --threads: set in torch, and warned about where the
    networks run on a busy CPU (on a GPU the CPU threads do little)."""
    import torch

    _two_cpus(monkeypatch)
    monkeypatch.setattr(cpu_load, "busy_cores", lambda cpus, seconds=0.3: float(len(cpus)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cpu_load.use_threads(threads, device_type, "the demo", "--threads 1")
    assert torch.get_num_threads() == threads
    messages = [str(w.message) for w in caught if issubclass(w.category, GaunetWarning)]
    assert bool(messages) == warned
    if warned:
        assert "the demo asks for 2 threads" in messages[0]


def _cgroup(tmp_path: Path, membership: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A fake /sys/fs/cgroup (`files`: path under it -> text) and /proc/self/cgroup."""
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    root.mkdir(exist_ok=True)
    own = tmp_path / "self-cgroup"
    own.write_text(membership)
    return root, own


@pytest.mark.parametrize(
    ("membership", "files", "limit"),
    [
        # cgroup v2, `docker run --cpus 2`: the container sees its own cgroup as the root
        ("0::/\n", {"cpu.max": "200000 100000\n"}, 2.0),
        ("0::/\n", {"cpu.max": "max 100000\n"}, None),
        # a limit on a parent counts; the tightest wins
        (
            "0::/kubepods/pod1/c1\n",
            {"kubepods/cpu.max": "400000 100000", "kubepods/pod1/c1/cpu.max": "150000 100000"},
            1.5,
        ),
        ("0::/a/b\n", {"a/cpu.max": "50000 100000", "a/b/cpu.max": "max 100000"}, 0.5),
        # the host's path, of which only the mount's root is visible inside the container
        ("0::/system.slice/docker-ab12.scope\n", {"cpu.max": "300000 100000"}, 3.0),
        # cgroup v1
        (
            "4:cpu,cpuacct:/docker/ab12\n3:memory:/docker/ab12\n",
            {"cpu,cpuacct/cpu.cfs_quota_us": "250000", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
            2.5,
        ),
        (
            "4:cpuacct,cpu:/\n",
            {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
            None,
        ),
        ("3:memory:/x\n0::/\n", {}, None),  # no cpu controller file: no limit known
        ("0::/\n", {"cpu.max": "garbled"}, None),
    ],
)
def test_cpu_limit_reads_the_cgroup_quota(
    tmp_path: Path, membership: str, files: dict[str, str], limit: float | None
) -> None:
    root, own = _cgroup(tmp_path, membership, files)
    assert cpu_load.cpu_limit(root, own) == limit


def test_cpu_limit_is_none_without_proc_self_cgroup(tmp_path: Path) -> None:
    assert cpu_load.cpu_limit(tmp_path, tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("cpus", "limit", "usable"), [(8, 2.0, 2), (8, 1.5, 2), (8, 0.5, 1), (2, 6.0, 2), (4, None, 4)]
)
def test_usable_cpus_is_the_mask_capped_by_the_limit(
    monkeypatch: pytest.MonkeyPatch, cpus: int, limit: float | None, usable: int
) -> None:
    monkeypatch.setattr(cpu_load, "usable_cpu_set", lambda: set(range(cpus)))
    monkeypatch.setattr(cpu_load, "cpu_limit", lambda: limit)
    assert cpu_load.usable_cpus() == usable


@pytest.mark.parametrize(
    ("num_threads", "named"), [(0, "torch's default of 2 threads"), (2, "num_threads 2")]
)
def test_a_run_under_a_cpu_limit_uses_that_many_threads(
    monkeypatch: pytest.MonkeyPatch, num_threads: int, named: str
) -> None:
    """Under `docker run --cpus 1` torch's default still counts every core the mask shows; a
    training run is capped at the limit, with one warning, and config.yaml records the cap."""
    import torch

    torch.set_num_threads(2)
    monkeypatch.setattr(cpu_load, "usable_cpus", lambda: 1)
    cfg = load_config("cpu-tiny", {"size": 16, "num_threads": num_threads, "device": "cpu"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_resources(cfg, Distributed(), images=24)
    messages = [str(w.message) for w in caught if issubclass(w.category, GaunetWarning)]
    assert messages == [f"{named} is more than the 1 CPU(s) this process may use; using 1"]
    assert cfg.num_threads == 1


@pytest.mark.parametrize(
    ("threads", "named"), [(0, "torch's default of 3 threads"), (9999, "num_threads 9999")]
)
def test_the_benchmark_and_demo_threads_are_capped_the_same(
    monkeypatch: pytest.MonkeyPatch, threads: int, named: str
) -> None:
    """`gaunet benchmark --threads 9999` (and the demo's) set 9999 torch threads on 2 cores."""
    import torch

    torch.set_num_threads(3)
    monkeypatch.setattr(cpu_load, "usable_cpus", lambda: 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cpu_load.use_threads(threads, "cuda:0", "the benchmark", "--threads 1")
    messages = [str(w.message) for w in caught if issubclass(w.category, GaunetWarning)]
    assert messages == [f"{named} is more than the 1 CPU(s) this process may use; using 1"]
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize(
    ("folder", "files", "seconds"),
    [
        # cgroup v2: cpu.stat's usage_usec
        ("", {"cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"}, 2.5),
        # v1 with cpu and cpuacct mounted together (docker): cpuacct.usage in nanoseconds
        ("cpu,cpuacct/docker/ab12", {"cpu,cpuacct/docker/ab12/cpuacct.usage": "1500000000"}, 1.5),
        # v1 with cpuacct mounted apart: its hierarchy at the same path; v1's own cpu.stat
        # holds throttling counts, not usage
        (
            "cpu/docker/ab12",
            {
                "cpu/docker/ab12/cpu.stat": "nr_periods 10\nnr_throttled 2\nthrottled_time 9\n",
                "cpuacct/docker/ab12/cpuacct.usage": "4000000000\n",
            },
            4.0,
        ),
        ("cpu/docker/ab12", {"cpu/docker/ab12/cpu.stat": "nr_periods 10\n"}, None),
        ("", {"cpu.stat": "usage_usec lots\n"}, None),
    ],
)
def test_cgroup_cpu_seconds_reads_v2_and_v1_usage(
    tmp_path: Path, folder: str, files: dict[str, str], seconds: float | None
) -> None:
    root, _ = _cgroup(tmp_path, "0::/\n", files)
    assert cpu_load.cgroup_cpu_seconds(root / folder, root) == seconds


def test_the_limiting_cgroup_is_the_folder_of_the_tightest_limit(tmp_path: Path) -> None:
    """Every process under that folder shares its limit, so its usage is what competes."""
    files = {"kubepods/cpu.max": "400000 100000", "kubepods/pod1/c1/cpu.max": "150000 100000"}
    root, own = _cgroup(tmp_path, "0::/kubepods/pod1/c1\n", files)
    assert cpu_load.limiting_cgroup(root, own) == (1.5, root / "kubepods" / "pod1" / "c1")
    (root / "kubepods" / "cpu.max").write_text("100000 100000")
    assert cpu_load.limiting_cgroup(root, own) == (1.0, root / "kubepods")
    assert cpu_load.limiting_cgroup(root, tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("limit", "others_use", "host_busy", "threads", "said"),
    [
        # `docker run --cpus 2` on a 64-core host, another job in the container using 1.5 CPUs:
        # the host's cores are mostly idle, but two threads share half a CPU of quota
        (2.0, 1.5, 1.5, 2, "other processes under this process's CPU limit use 1.5 of its 2 CPUs"),
        (2.0, 0.2, 40.0, 2, None),  # a busy host, an idle container: 24 free cores, the quota free
        (4.0, 1.0, 1.0, 2, None),  # three of four CPUs of quota left for two threads
        (2.0, 1.5, 1.5, 1, None),  # one thread waits on no other
        # no usage file under the limit: the host's cores are all there is to go by
        (2.0, None, 63.0, 2, "other processes keep 63.0 of the 64 CPU cores busy"),
    ],
)
def test_a_warning_when_others_under_the_cpu_limit_use_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    limit: float,
    others_use: float | None,
    host_busy: float,
    threads: int,
    said: str | None,
) -> None:
    """The affinity mask shows the host's cores; a cgroup quota throttles this process when the
    others under it use it up, however idle the host is. Sampled over the same window."""
    folder = tmp_path / "pod"
    folder.mkdir()
    stat = folder / "cpu.stat"
    if others_use is not None:
        stat.write_text("usage_usec 7000000\n")
    clock = iter([100.0, 102.0])  # a two-second window

    def sample_host(cpus: set[int], seconds: float = 0.3) -> float:
        if others_use is not None:  # what the others used meanwhile (this process sleeps)
            stat.write_text(f"usage_usec {7000000 + int(2e6 * others_use)}\n")
        return host_busy

    monkeypatch.setattr(cpu_load, "limiting_cgroup", lambda: (limit, folder))
    monkeypatch.setattr(cpu_load, "busy_cores", sample_host)
    monkeypatch.setattr(cpu_load, "_clock", lambda: next(clock))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = cpu_load.warn_if_busy(threads, set(range(64)), "this run", "--threads 1")
    assert got == (None if threads == 1 else host_busy)
    messages = [str(w.message) for w in caught if issubclass(w.category, GaunetWarning)]
    assert len(messages) == (said is not None)
    if said:
        assert messages[0].startswith(said) and "this run asks for 2 threads" in messages[0]
