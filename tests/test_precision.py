"""`precision: auto` (issue 29): bf16 only where the device does bf16 natively, fp32 elsewhere
(an AVX2-only CPU emulates bf16 and trained 5.2x slower in it); explicit settings are kept, an
emulated bf16 warns once; run.json records what ran and why."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from train_helpers import PHANTOM, TINY, tiny_train

import gaunet.precision
from gaunet.config import ConfigError, load_config
from gaunet.errors import GaunetWarning
from gaunet.precision import native_bf16_from_cpuinfo, resolve_precision

X86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse sse2 avx {}\n\n"
ARM = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd sve {}\nCPU implementer\t: 0x41\n"
CPU = torch.device("cpu")

# (name, /proc/cpuinfo text, platform.machine(), native bf16: True / False / None = unknown)
CPUS = [
    ("x86 avx512_bf16", X86.format("avx2 avx512f avx512_bf16"), "x86_64", True),
    ("x86 amx_bf16", X86.format("avx2 avx512f amx_tile amx_bf16"), "x86_64", True),
    ("x86 avx2 only (AMD EPYC, issue 29)", X86.format("avx2 fma"), "x86_64", False),
    ("x86 avx512f without bf16", X86.format("avx2 avx512f avx512bw"), "x86_64", False),
    ("aarch64 bf16", ARM.format("svebf16 i8mm bf16"), "aarch64", True),
    ("aarch64 without bf16", ARM.format("asimddp sve2"), "aarch64", False),
    ("aarch64 sve bf16 only", ARM.format("svebf16"), "aarch64", False),
    ("x86 without a flags line", "processor\t: 0\n", "x86_64", None),
    ("unknown architecture", "isa\t: rv64imafdc\n", "riscv64", None),
    ("no /proc/cpuinfo (macOS)", "", "arm64", None),
]
CPU_IDS = [case[0] for case in CPUS]


def _on_cpu(monkeypatch: pytest.MonkeyPatch, cpuinfo: str, machine: str) -> None:
    """Make resolve_precision see this CPU instead of the machine's own."""
    monkeypatch.setattr(
        gaunet.precision, "cpu_native_bf16", lambda: native_bf16_from_cpuinfo(cpuinfo, machine)
    )


@pytest.mark.parametrize("name, cpuinfo, machine, native", CPUS, ids=CPU_IDS)
def test_cpuinfo_flags_say_whether_bf16_is_native(name, cpuinfo, machine, native):
    found, reason = native_bf16_from_cpuinfo(cpuinfo, machine)
    assert found is native, reason
    assert reason and "\n" not in reason


@pytest.mark.parametrize("name, cpuinfo, machine, native", CPUS, ids=CPU_IDS)
def test_auto_on_a_cpu_is_bf16_only_where_it_is_native(monkeypatch, name, cpuinfo, machine, native):
    _on_cpu(monkeypatch, cpuinfo, machine)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto never warns
        precision, reason = resolve_precision("auto", CPU, warn=True)
    assert precision == ("bf16" if native else "fp32")
    assert reason.startswith("auto: ") and "\n" not in reason
    if native is None:
        assert "cannot tell" in reason
    if native is False:
        assert "no native bf16" in reason


@pytest.mark.parametrize("name, cpuinfo, machine, native", CPUS, ids=CPU_IDS)
@pytest.mark.parametrize("requested", ["fp32", "bf16"])
def test_explicit_settings_are_kept(monkeypatch, requested, name, cpuinfo, machine, native):
    _on_cpu(monkeypatch, cpuinfo, machine)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        precision, reason = resolve_precision(requested, CPU, warn=True)
    assert precision == requested
    assert reason.startswith(f"{requested}: set in the config")
    emulated = requested == "bf16" and native is False
    assert ("emulated" in reason) is emulated
    ours = [w for w in caught if issubclass(w.category, GaunetWarning)]
    assert len(ours) == (1 if emulated else 0)
    if emulated:
        assert "precision=auto" in str(ours[0].message)


@pytest.mark.parametrize(
    "requested, expected", [("auto", "bf16"), ("bf16", "bf16"), ("fp32", "fp32")]
)
def test_cuda_device_runs_bf16_under_auto(monkeypatch, requested, expected):
    """No GPU needed: the device is only named (without CUDA it is taken to have native bf16;
    with one, it is Ampere or later here)."""
    _on_cpu(monkeypatch, X86.format("avx2"), "x86_64")  # the host CPU does not matter
    if torch.cuda.is_available() and torch.cuda.get_device_capability()[0] < 8:
        pytest.skip("this GPU has no native bf16")
    precision, reason = resolve_precision(requested, torch.device("cuda"))
    assert precision == expected
    assert "emulated" not in reason


def test_other_requests_are_refused():
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        resolve_precision("fp16", CPU)


def test_this_machines_cpu_is_read_once():
    first = gaunet.precision.cpu_native_bf16()
    assert first[0] in (True, False, None) and first[1]
    assert gaunet.precision.cpu_native_bf16() is first  # cached


@pytest.mark.parametrize(
    "overrides, precision",
    [({}, "auto"), ({"precision": "fp32"}, "fp32"), ({"precision": "bf16"}, "bf16")],
)
def test_cpu_presets_say_auto_and_accept_explicit_settings(overrides, precision):
    for preset in ("cpu-tiny", "cpu-small"):
        assert load_config(preset, overrides).precision == precision
    assert load_config("paper").precision == "fp32"


@pytest.mark.parametrize("bad", ["fp8", "fp16", "AUTO", ""])
def test_config_rejects_other_precisions(bad):
    with pytest.raises(ConfigError, match="precision must be auto, fp32 or bf16"):
        load_config("cpu-tiny", {"precision": bad})


def test_run_json_records_the_precision_that_ran_and_why(tmp_path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", GaunetWarning)  # auto never warns
        run = tiny_train(tmp_path / "run", steps=2, precision="auto")
    info = json.loads((run / "run.json").read_text())
    expected = resolve_precision("auto", torch.device(info["device"]))
    assert (info["precision"], info["precision_reason"]) == expected
    assert info["precision"] in ("fp32", "bf16")


def test_trainer_warns_once_about_emulated_bf16(monkeypatch):
    from gaunet.data import load_source
    from gaunet.training.loop import Trainer

    _on_cpu(monkeypatch, X86.format("avx2 fma"), "x86_64")
    cfg = load_config("cpu-tiny", {**TINY, "device": "cpu", "precision": "bf16"})
    data = load_source(PHANTOM, size=cfg.size, channels=cfg.channels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = Trainer(None, cfg, data, show_progress=False)
    ours = [str(w.message) for w in caught if issubclass(w.category, GaunetWarning)]
    assert len(ours) == 1 and "emulated" in ours[0], ours
    assert trainer.precision == "bf16" and "emulated" in trainer.precision_reason
