"""Seconds of one training epoch of a benchmark network at a given size, extrapolated from a few
timed Adam steps (batch 32, as gaunet/downstream/fit.py trains) and one forward batch (the
BatchNorm recalibration over the training images and the validation pass): for networks whose
real epoch is too long to time in a sitting (docs/downstream.md, "The paper's protocol in one
command"). Random images; the last line is JSON.

    .venv/bin/python benchmarks/classifier_step_time.py resnet50 --steps 3 --size 256
    .venv/bin/python benchmarks/classifier_step_time.py densenet161 --steps 2 --size 256
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from gaunet.downstream.classifiers import build_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", help="resnet18, resnet50, densenet161, ...")
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--train", type=int, default=546, help="training images (BUSI: 546)")
    parser.add_argument("--val", type=int, default=78, help="validation images (BUSI: 78)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_network(args.network, args.channels, args.classes, args.size, 1.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    x = torch.rand(32, args.channels, args.size, args.size)
    y = torch.randint(0, args.classes, (32,))
    loss = nn.CrossEntropyLoss()
    model.train()
    times = []
    for _ in range(args.steps + 1):  # the first is a warm-up
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss(model(x), y).backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    step = sum(times[1:]) / args.steps
    with torch.no_grad():
        start = time.perf_counter()
        model(x)
        forward = time.perf_counter() - start
    epoch = args.train / 32 * step + (args.train + args.val) / 32 * forward
    print(
        json.dumps(
            {
                "network": args.network,
                "size": args.size,
                "threads": torch.get_num_threads(),
                "warmup_s": round(times[0], 2),
                "step_s": [round(t, 2) for t in times[1:]],
                "train_step_b32_s": round(step, 2),
                "forward_b32_s": round(forward, 2),
                "epoch_w_o_s": round(epoch, 1),  # the W/O arm: the real training images
                "epoch_w_s": round(2 * epoch - args.val / 32 * forward, 1),  # twice the images
            }
        )
    )


if __name__ == "__main__":
    main()
