"""What `precision: auto` and `--device` decide where the machine is not the test machine:
a CPU whose bf16 instructions oneDNN is told not to use (ONEDNN_MAX_CPU_ISA=AVX2, the way
docs/performance.md runs an avx512_bf16 CPU as an AVX2-only one: cpu-tiny trained at 42 images/s
in bf16 against 226 in fp32 there, and `auto` still chose bf16), and a `cuda:N` beyond the GPUs
there are
(accepted, then torch's "invalid device ordinal" at the first tensor moved there)."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pytest
import torch

import gaunet.precision
from gaunet.device import resolve_device
from gaunet.errors import GaunetError, GaunetWarning
from gaunet.precision import native_bf16_from_cpuinfo, resolve_precision

NATIVE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd sve bf16\n"
CPU = torch.device("cpu")


def _this_cpu(monkeypatch: pytest.MonkeyPatch, cpuinfo: str, machine: str) -> None:
    """The machine's /proc/cpuinfo and platform name as cpu_native_bf16 reads them."""
    fake = Path(tempfile.mkdtemp()) / "cpuinfo"
    fake.write_text(cpuinfo)
    monkeypatch.setattr(gaunet.precision, "CPUINFO", fake)
    monkeypatch.setattr(gaunet.precision.sys, "platform", "linux")
    monkeypatch.setattr(gaunet.precision.platform, "machine", lambda: machine)
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)
    gaunet.precision.cpu_native_bf16.cache_clear()


@pytest.fixture(autouse=True)
def _read_again() -> object:
    gaunet.precision.cpu_native_bf16.cache_clear()
    yield
    gaunet.precision.cpu_native_bf16.cache_clear()  # the next tests read the real machine


@pytest.mark.parametrize("variable", ["ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"])
@pytest.mark.parametrize("isa", ["AVX2", "avx512_core", "AVX512_CORE_VNNI", "AVX2_VNNI"])
def test_auto_is_fp32_where_onednn_may_not_use_the_bf16_instructions(monkeypatch, variable, isa):
    _this_cpu(monkeypatch, NATIVE, "x86_64")
    monkeypatch.setenv(variable, isa)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto never warns
        precision, reason = resolve_precision("auto", CPU, warn=True)
    assert precision == "fp32", reason
    assert f"{variable}={isa}" in reason and "no native bf16" in reason and "\n" not in reason


def test_an_explicit_bf16_there_is_kept_with_the_slowdown_warning(monkeypatch):
    _this_cpu(monkeypatch, NATIVE, "x86_64")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        precision, reason = resolve_precision("bf16", CPU, warn=True)
    ours = [str(w.message) for w in caught if issubclass(w.category, GaunetWarning)]
    assert precision == "bf16" and "emulated" in reason
    assert len(ours) == 1 and "ONEDNN_MAX_CPU_ISA=AVX2" in ours[0] and "slower" in ours[0]


# (ONEDNN_MAX_CPU_ISA, /proc/cpuinfo, platform.machine(), what `auto` runs)
LIMITS = [
    ("AVX2", NATIVE, "x86_64", "fp32"),  # the docs' AVX2-only run of an avx512_bf16 CPU
    (None, NATIVE, "x86_64", "bf16"),  # no limit: the flags decide, as before
    ("AVX512_CORE_BF16", NATIVE, "x86_64", "bf16"),  # a limit that keeps bf16
    ("AVX512_CORE_AMX", NATIVE, "x86_64", "bf16"),
    ("ALL", NATIVE, "x86_64", "bf16"),
    ("not-an-isa", NATIVE, "x86_64", "bf16"),  # oneDNN ignores a name it does not know
    ("AVX2", "processor\t: 0\nflags\t: avx2 fma\n", "x86_64", "fp32"),  # no bf16 anyway
    ("AVX2", ARM, "aarch64", "bf16"),  # an x86 variable: an ARM CPU keeps its bf16
    ("AVX2", "", "x86_64", "fp32"),  # cannot tell: fp32, as before
]


def test_the_limit_decides_only_where_it_takes_bf16_away(monkeypatch):
    for isa, cpuinfo, machine, precision in LIMITS:
        _this_cpu(monkeypatch, cpuinfo, machine)
        if isa is not None:
            monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
        got, reason = resolve_precision("auto", CPU)
        assert got == precision, (isa, machine, reason)
        assert reason.startswith("auto: " + native_bf16_from_cpuinfo(cpuinfo, machine)[1])
        assert ("ONEDNN_MAX_CPU_ISA" in reason) is (got == "fp32" and cpuinfo == NATIVE)


def _gpus(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_a_cuda_index_beyond_the_gpus_is_refused_in_one_line(monkeypatch):
    for name, count in [("cuda:1", 1), ("cuda:3", 2), ("cuda:01", 1)]:
        _gpus(monkeypatch, count)
        with pytest.raises(GaunetError, match=rf"device '{name}' requested but this machine has "):
            resolve_device(name)
    _gpus(monkeypatch, 0)
    for name in ("cuda:1", "cuda"):  # no CUDA at all: that error, as before
        with pytest.raises(GaunetError, match="CUDA is not available"):
            resolve_device(name)


def test_devices_there_are_resolve(monkeypatch):
    for name, count, expected in [
        ("cuda:01", 2, torch.device("cuda", 1)),  # was torch's "Invalid device string"
        ("cuda:1", 2, torch.device("cuda", 1)),
        ("cuda:0", 1, torch.device("cuda", 0)),
        ("cuda", 1, torch.device("cuda")),
        ("cpu", 0, torch.device("cpu")),
        ("auto", 0, torch.device("cpu")),
        ("auto", 1, torch.device("cuda")),
    ]:
        _gpus(monkeypatch, count)
        assert resolve_device(name) == expected, name
