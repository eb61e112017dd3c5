"""Which arithmetic a training run uses: `precision: auto` picks bf16 autocast only where the
device does bf16 natively. On a CPU without bf16 instructions (e.g. an AVX2-only AMD EPYC)
autocast emulates bf16 and a cpu-tiny step ran 5.2x slower than in fp32 (27 vs 143 images/s,
issue 29), so there auto means fp32. run.json records what ran and why (`precision`,
`precision_reason`).
"""

from __future__ import annotations

import functools
import os
import platform
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gaunet.errors import GaunetWarning

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "fp32", "bf16")  # what a config may say
X86 = ("x86_64", "amd64", "i386", "i686", "x86")
ARM64 = ("aarch64", "arm64")  # 64-bit only: a 32-bit userland lists other features
X86_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo "flags": bf16 dot products, tiles
CPUINFO = Path("/proc/cpuinfo")
# oneDNN (torch's CPU convolutions) runs only the instruction sets up to ONEDNN_MAX_CPU_ISA (older
# name DNNL_MAX_CPU_ISA); below AVX512_CORE_BF16 it emulates bf16: cpu-tiny trained at 42
# images/s in bf16 against 226 in fp32 with ONEDNN_MAX_CPU_ISA=AVX2 on an avx512_bf16 CPU
# (docs/performance.md, "Precision: auto", which runs such a CPU as an AVX2-only one so)
ISA_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
ISA_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE")
ISA_WITHOUT_BF16 += ("AVX512_CORE_VNNI", "AVX512_MIC", "AVX512_MIC_4OPS")  # others: ignored


def native_bf16_from_cpuinfo(cpuinfo: str, machine: str) -> tuple[bool | None, str]:
    """Whether a CPU does bf16 arithmetic natively, from the text of /proc/cpuinfo and the
    platform's machine name (`platform.machine()`): (True/False, which flags say so), or
    (None, why not known) when the text or the architecture does not tell. Takes the text, not
    the file, so tests can feed any flag set."""
    arch = machine.strip().lower()
    if arch in X86:
        key, wanted = "flags", X86_BF16_FLAGS
    elif arch in ARM64:
        key, wanted = "features", ("bf16",)
    else:
        return None, f"cannot tell whether a {machine or 'unknown'} CPU has native bf16"
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == key:  # every core lists the same flags: the first is enough
            tokens = set(value.split())
            found = [flag for flag in wanted if flag in tokens]
            if found:
                return True, f"the CPU has native bf16 ({', '.join(found)})"
            return False, f"the CPU has no native bf16 (no {' or '.join(wanted)} flag)"
    label = "Features" if key == "features" else key
    return None, f"cannot tell whether the CPU has native bf16 (no {label!r} line in cpuinfo)"


@functools.cache
def cpu_native_bf16() -> tuple[bool | None, str]:
    """native_bf16_from_cpuinfo for this machine, read once per process, less what
    ONEDNN_MAX_CPU_ISA keeps oneDNN from (isa_limited); (None, why) where there is no
    /proc/cpuinfo (macOS, Windows) or it cannot be read."""
    if not sys.platform.startswith("linux"):
        return None, f"cannot tell whether the CPU has native bf16 on {platform.system()}"
    try:
        text = CPUINFO.read_text(errors="replace")
    except OSError as error:
        return None, f"cannot read {CPUINFO} ({error.strerror or error})"
    native, reason = native_bf16_from_cpuinfo(text, platform.machine())
    return isa_limited(native, reason, platform.machine(), os.environ)


def isa_limited(
    native: bool | None, reason: str, machine: str, environ: Mapping[str, str]
) -> tuple[bool | None, str]:
    """(native, reason) of an x86 CPU as oneDNN will use it: an ONEDNN_MAX_CPU_ISA below bf16
    (AVX2, AVX512_CORE, ...) leaves the CPU's bf16 instructions unused, so bf16 is emulated."""
    if not native or machine.strip().lower() not in X86:
        return native, reason
    variable = next((name for name in ISA_VARIABLES if environ.get(name, "").strip()), None)
    isa = environ.get(variable, "").strip() if variable else ""
    if isa.upper() not in ISA_WITHOUT_BF16:  # unset, a bf16 ISA, or a name oneDNN ignores
        return native, reason
    return False, f"{reason}, but {variable}={isa} keeps torch's oneDNN from it: no native bf16"


def _cuda_native_bf16(device: torch.device) -> bool:
    """Ampere (compute capability 8) and later do bf16 natively; when CUDA cannot be asked
    (no GPU here, e.g. in tests) a CUDA device is taken to have it."""
    import torch

    if not torch.cuda.is_available():
        return True
    return torch.cuda.get_device_capability(device)[0] >= 8


def resolve_precision(requested: str, device: torch.device, warn: bool = False) -> tuple[str, str]:
    """(the precision that runs, "fp32" or "bf16"; one line saying why) for a config's
    `precision` on `device`. "auto" is bf16 on CUDA and on a CPU with native bf16, else fp32.
    An explicit fp32 or bf16 is kept; a bf16 the CPU can only emulate is kept too, with a reason
    that says so and, with `warn`, one GaunetWarning (the trainer warns on its main process)."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {requested!r}")
    if requested == "fp32":
        return "fp32", "fp32: set in the config"
    if device.type == "cuda":
        native, detail = _cuda_native_bf16(device), "the GPU has native bf16"
        if not native:
            detail = "the GPU has no native bf16 (compute capability below 8.0)"
    elif device.type == "cpu":
        native, detail = cpu_native_bf16()
    else:
        native, detail = None, f"bf16 is chosen automatically only on CUDA and CPUs, not {device}"
    if requested == "bf16":
        if native is not False:
            return "bf16", f"bf16: set in the config; {detail}"
        if warn:
            warnings.warn(
                f"precision bf16 on {device}: {detail}, so bf16 is emulated and can be several "
                "times slower than fp32 (--set precision=auto or --set precision=fp32)",
                GaunetWarning,
                stacklevel=2,
            )
        return "bf16", f"bf16: set in the config, but {detail}: emulated, slower than fp32"
    if native:
        return "bf16", f"auto: {detail}"
    if native is None:
        return "fp32", f"auto: {detail}, so fp32"
    return "fp32", f"auto: {detail}, so fp32 (emulated bf16 would be slower)"
