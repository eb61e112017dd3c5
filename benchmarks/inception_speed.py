"""Feature-extraction throughput on this machine (images/s), for docs/metrics.md.

.venv/bin/python benchmarks/inception_speed.py [--threads 2] [--images 64]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from gaunet.metrics.features import ExtractorSettings, make_extractor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--extractors", default="inception,efficientnet")
    args = parser.parse_args()
    os.environ["GAUNET_NO_PROGRESS"] = "1"
    torch.set_num_threads(args.threads)
    images = np.random.default_rng(0).integers(0, 256, (args.images, 3, args.size, args.size))
    images = images.astype(np.uint8)
    for name in args.extractors.split(","):
        extractor = make_extractor(name, ExtractorSettings(batch_size=32, device="cpu"))
        extractor(images[:4])  # warm-up
        start = time.perf_counter()
        extractor(images)
        seconds = time.perf_counter() - start
        print(
            f"{name}: {args.images / seconds:.1f} images/s ({args.threads} threads, "
            f"{args.images} images of {args.size} px)"
        )


if __name__ == "__main__":
    main()
