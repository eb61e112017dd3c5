"""Memory a training run needs at the least, checked before anything is read or written, so that
`--size 100000` (or `--batch-size 100000`) is refused with one line instead of a machine that
swaps or an out-of-memory kill minutes later.

The estimate is a *lower bound*: the decoded training images (uint8) plus the activations one
training step keeps for its backward pass, `batch_size x size^2 x activation_units(cfg) x
BYTES_PER_UNIT`. activation_units counts the channel maps per input pixel of the networks'
widths (generator levels, critic stem and dense blocks); BYTES_PER_UNIT is calibrated below.
A size is refused only when even this lower bound exceeds the memory there is, so a size that
trains today is never refused. `check_resources` also caps the thread count at the CPUs there
are.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from gaunet.config import TrainConfig
from gaunet.cpu_load import capped_threads, usable_cpu_set, warn_if_busy
from gaunet.device import resolve_device
from gaunet.errors import GaunetError
from gaunet.io import human_bytes
from gaunet.training.distributed import Distributed

# Bytes per activation unit (one channel map per input pixel) and pair. Measured with
# benchmarks/memory_calibration.py: the peak RSS (ru_maxrss) of a child process training 2 steps
# on phantom data, at two sizes per preset; the slope between them divided by batch x (size^2
# difference) x activation_units gave 13.5 (cpu-tiny: bf16 autocast, batch 16, 64 -> 128 px:
# 553 -> 1063 MB), 14.6 (cpu-small: bf16, batch 8, 64 -> 128 px: 987 -> 2538 MB), 8.7 and 8.2
# (paper: fp32, batch 4, 64 -> 128 px: 2359 -> 2965 MB; 128 -> 192 px: 2852 -> 3806 MB) on a
# shared 2-core x86-64 CPU (AMD EPYC, AVX-512 bf16), torch 2.x, 1 thread. Half the smallest is
# kept, so the estimate stays below what a step takes (paper at 256 px, batch 32, peaked at
# 30.3 GB on a GPU, docs/guide.md; the estimate says 12 GB).
BYTES_PER_UNIT = 4.0
BYTES_CAP = 1 << 80  # estimates are capped here: far above any memory, printable


def activation_units(cfg: TrainConfig) -> float:
    """Channel maps one training step keeps per input pixel and pair (the generator's U-Net
    levels plus twice the critic: real/fake pairs and the penalty's pass), from the widths
    alone; BYTES_PER_UNIT turns it into bytes."""
    if cfg.model != "gaunet":  # DCGAN baselines: their widest maps are at half the side
        return cfg.channels * 2 + (2 * cfg.g_width + cfg.d_stem) / 4
    widths = [min(cfg.g_width * 2**level, cfg.g_width_max) for level in range(cfg.g_depth)]
    generator = widths[0] + sum(
        2 * cfg.g_convs_per_block * width / 4**level for level, width in enumerate(widths)
    )
    critic = float(cfg.d_stem)
    width, layers, growth = cfg.d_stem, cfg.d_layers_per_block, cfg.d_growth
    for block in range(cfg.d_blocks):
        maps = layers * width + growth * layers * (layers + 1) / 2
        critic += maps / 4 ** (cfg.d_stem_down + block)
        width = (width + layers * growth) // 2
    return generator + 2 * critic


def estimate_bytes(cfg: TrainConfig, images: int) -> tuple[int, int]:
    """(bytes of `images` decoded training images, bytes of one training step's activations),
    each at most BYTES_CAP: `--batch-size` with 400 digits overflowed the float product (an
    OverflowError traceback, not the one-line refusal), and a cap is still a lower bound."""
    pixels = cfg.size * cfg.size
    try:
        step = min(cfg.batch_size * pixels * activation_units(cfg) * BYTES_PER_UNIT, BYTES_CAP)
    except OverflowError:  # past a float's range (inf products are capped by min)
        step = BYTES_CAP
    return min(images * cfg.channels * pixels, BYTES_CAP), int(step)


def image_count(data: object) -> int:
    """How many images a SOURCE holds when that is cheap to know without decoding them (an
    ImageSet, phantom's options, an .npz's array headers), else 2, the fewest a run trains on:
    the estimate must stay a lower bound."""
    from gaunet.data import ImageSet

    if isinstance(data, ImageSet):
        return len(data)
    text = str(data)
    try:
        if text == "phantom" or text.startswith("phantom:"):
            from gaunet.data.phantom import parse_phantom_spec

            options = parse_phantom_spec(text)
            return options["n"] * options["classes"]
        if text.lower().endswith(".npz") and Path(text).is_file():
            return max(_npz_images(Path(text)), 2)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass  # the reader says what is wrong with the source, in its own words
    return 2


def _npz_images(path: Path) -> int:
    """Images in a MedMNIST-style .npz, from the `*_images` array headers alone."""
    count = 0
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.endswith("_images.npy"):
                continue
            with archive.open(name) as member:
                version = np.lib.format.read_magic(member)
                read = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape = read(member)[0]
            count += int(shape[0]) if shape else 0
    return count


def host_available() -> int | None:
    """Memory this process may still take: MemAvailable, or less under a cgroup limit, whose
    room counts the cgroup's page cache as free, as MemAvailable does (memory.current holds
    it, and a container that has read its data set is near its limit without needing it)."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            room = max(int(limit) - used + _page_cache(), 0)
            available = room if available is None else min(available, room)
    except (OSError, ValueError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    return available


def _page_cache() -> int:
    """The cgroup's file pages (active_file + inactive_file of memory.stat), which the kernel
    reclaims before it kills; 0 where memory.stat does not say."""
    try:
        stat = Path("/sys/fs/cgroup/memory.stat").read_text().split()
    except OSError:
        return 0
    fields = dict(zip(stat[::2], stat[1::2]))
    try:
        return sum(int(fields.get(name, 0)) for name in ("active_file", "inactive_file"))
    except ValueError:
        return 0


def check_memory(cfg: TrainConfig, device: torch.device, images: int, models: int = 1) -> None:
    """GaunetError (one line, both numbers) when the run cannot fit: the images and one step on
    the device (CUDA: its total memory, never more than that), the images in host memory.
    `models` > 1: that many runs trained together (stacked.py), `images` all of theirs."""
    image_bytes, step_bytes = estimate_bytes(cfg, images)
    step_bytes *= models
    what = f"size {cfg.size} with batch_size {cfg.batch_size}"
    what += f" for {models} models trained together" if models > 1 else ""
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        if image_bytes + step_bytes > total:
            raise GaunetError(
                f"{what} needs about {human_bytes(image_bytes + step_bytes)} on {device} for one "
                f"training step; it has {human_bytes(total)}; lower --size or --batch-size"
            )
    host = host_available()
    needed = image_bytes + (0 if device.type == "cuda" else step_bytes)
    if host is not None and needed > host:
        where = "the training images" if device.type == "cuda" else "one training step"
        raise GaunetError(
            f"{what} needs about {human_bytes(needed)} for {where}; this machine has {human_bytes(host)} "
            "available; lower --size or --batch-size"
        )


def check_resources(cfg: TrainConfig, dist: Distributed, images: int) -> None:
    """Threads capped to the CPUs there are (9999 OpenMP threads on 2 cores made three steps
    of 18 s take minutes), with one warning; config.yaml then records the cap. More than one
    thread on cores other processes keep busy: a warning (gaunet/cpu_load.py). The images and
    one training step must fit in memory (training/memory.py): else one line with both numbers."""
    # torch's own default (num_threads 0) follows the affinity mask, not a cgroup CPU limit
    cfg.num_threads = capped_threads(cfg.num_threads, torch.get_num_threads(), dist.is_main)
    device = dist.device(resolve_device(cfg.device))
    if device.type == "cpu" and dist.is_main and not dist.enabled:  # ranks would count as busy
        threads = cfg.num_threads or torch.get_num_threads()
        warn_if_busy(threads, usable_cpu_set(), "this run", "--threads 1 (num_threads: 1)")
    check_memory(cfg, device, images)
