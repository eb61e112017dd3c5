"""Images/s of full training iterations (n_critic critic steps + 1 generator step).

    .venv/bin/python benchmarks/train_speed.py --config cpu-tiny --steps 20 [--set key=value ...]

An "image" is one real pair drawn: each iteration draws batch_size * (n_critic + 1) pairs.
Warm-up iterations are excluded; the data is random uint8 images held in memory, as in training.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from gaunet.config import load_config, parse_overrides
from gaunet.data import ImageSet
from gaunet.training.loop import Trainer


def measure(config: str, overrides: dict, steps: int, warmup: int, classes: int = 2) -> dict:
    cfg = load_config(config, {**overrides, "tensorboard": False})
    rng = np.random.default_rng(0)
    n = 64
    data = ImageSet(
        images=rng.integers(0, 256, (n, cfg.channels, cfg.size, cfg.size), dtype=np.uint8),
        labels=np.arange(n) % classes,
        class_names=[str(c) for c in range(classes)],
        groups=np.arange(n).astype(str),
        ids=np.arange(n).astype(str),
    )
    trainer = Trainer(None, cfg, data, show_progress=False)
    totals: dict = {}
    for _ in range(warmup):
        trainer.train_step(totals)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(totals)
    _ = [float(v) for v in totals.values()]  # the host sync the loop does at log time
    seconds = time.perf_counter() - start
    pairs = steps * cfg.batch_size * (cfg.n_critic + 1)
    return {
        "config": config,
        "overrides": overrides,
        "size": cfg.size,
        "channels": cfg.channels,
        "batch_size": cfg.batch_size,
        "device": str(trainer.device),
        "threads": torch.get_num_threads(),
        "steps": steps,
        "seconds_per_step": round(seconds / steps, 4),
        "images_per_second": round(pairs / seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="cpu-tiny")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--size", type=int)
    parser.add_argument("--channels", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    overrides = parse_overrides(args.overrides)
    for key in ("size", "channels", "batch_size"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    print(json.dumps(measure(args.config, overrides, args.steps, args.warmup)))


if __name__ == "__main__":
    main()
