"""Calibrate gaunet.training.memory.BYTES_PER_UNIT: peak RSS of 2 training steps at two sizes.

Each point trains 2 steps on phantom data in a child process and reads its peak RSS
(ru_maxrss). The slope between two sizes of one preset removes what does not grow with the
image (Python, torch, weights); divided by batch x (size^2 difference) x activation_units it
gives the bytes per activation unit. memory.py keeps half the smallest slope, so the estimate
stays a lower bound. CPU only:

    .venv/bin/python benchmarks/memory_calibration.py [--points cpu-tiny:16:64,128 ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys
from gaunet.training import train
preset, size, batch, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
train("phantom:n=24,classes=2", out, config=preset, steps=2, progress=False, overrides={
    "size": size, "batch_size": batch, "num_threads": 1, "tensorboard": False,
    "sample_every": 0, "checkpoint_every": 0, "periodic_every": 0, "device": "cpu"})
print(json.dumps({"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def peak_rss(preset: str, size: int, batch: int) -> int:
    """Peak RSS in bytes of a child that trains 2 steps of `preset` at `size`, `batch`."""
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, preset, str(size), str(batch), out + "/run"],
            capture_output=True,
            text=True,
            check=True,
        )
    return int(json.loads(done.stdout.strip().splitlines()[-1])["rss"])


def main() -> None:
    from gaunet.config import load_config
    from gaunet.training.memory import BYTES_PER_UNIT, activation_units, estimate_bytes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--points",
        nargs="+",
        default=["cpu-tiny:16:64,128", "cpu-small:8:64,128", "paper:4:64,128", "paper:4:128,192"],
        help="PRESET:BATCH:SIZE1,SIZE2 (default: %(default)s)",
    )
    args = parser.parse_args()
    for point in args.points:
        preset, batch, sizes = point.split(":")
        small, large = (int(s) for s in sizes.split(","))
        rss = {s: peak_rss(preset, s, int(batch)) for s in (small, large)}
        cfg = load_config(preset, {"batch_size": int(batch), "size": small})
        units = activation_units(cfg)
        slope = (rss[large] - rss[small]) / (int(batch) * (large**2 - small**2) * units)
        estimate = {
            s: sum(estimate_bytes(load_config(preset, {"batch_size": int(batch), "size": s}), 24))
            for s in (small, large)
        }
        print(
            json.dumps(
                {
                    "preset": preset,
                    "batch": int(batch),
                    "units": round(units, 1),
                    "peak_rss_mb": {s: round(v / 2**20) for s, v in rss.items()},
                    "bytes_per_unit": round(slope, 2),
                    "estimate_mb_now": {s: round(v / 2**20) for s, v in estimate.items()},
                    "BYTES_PER_UNIT": BYTES_PER_UNIT,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
