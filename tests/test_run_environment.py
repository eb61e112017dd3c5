"""What run.json says about the machine: the CPU's model and the ISA torch's kernels use, since
CPU results round by them (platform.processor() gave "x86_64" or "" on Linux)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gaunet.training import run_folder


@pytest.mark.parametrize(
    ("cpuinfo", "model"),
    [
        ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\nflags\t: fpu\n",
         "AMD EPYC 9R14"),
        ("processor\t: 0\nBogoMIPS\t: 50.00\nModel\t: Raspberry Pi 5 Model B Rev 1.0\n",
         "Raspberry Pi 5 Model B Rev 1.0"),  # aarch64 kernels name the board
        ("processor\t: 0\nflags\t: fpu\n", ""),  # no model line: the platform's name instead
    ],
)  # fmt: skip
def test_the_cpu_model_comes_from_cpuinfo(monkeypatch, tmp_path: Path, cpuinfo, model) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(cpuinfo)
    real_path = run_folder.Path
    monkeypatch.setattr(
        run_folder, "Path", lambda p: info if p == "/proc/cpuinfo" else real_path(p)
    )
    assert run_folder.cpu_model() == model
    record = run_folder.environment(torch.device("cpu"), 1)
    assert record["device_name"] == (model or record["device_name"]) and record["device_name"]
    assert record["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_no_cpuinfo_is_no_model(monkeypatch, tmp_path: Path) -> None:
    real_path = run_folder.Path
    missing = tmp_path / "absent"
    monkeypatch.setattr(
        run_folder, "Path", lambda p: missing if p == "/proc/cpuinfo" else real_path(p)
    )
    assert run_folder.cpu_model() == ""
