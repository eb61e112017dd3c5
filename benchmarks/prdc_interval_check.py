"""How often PRDC's 95 % intervals hold the metric's mean over repeated synthetic draws.

The real reference is held fixed (as `gaunet evaluate` holds it) and synthetic sets of n images
are drawn again and again from one shifted, wider Gaussian: an interval that covers the sampling
of the synthetic images should hold the mean over draws in about 95 % of them. Recall and
coverage are shares of the real images; their intervals resample the synthetic images that reach
them (gaunet/metrics/bootstrap.py, `bootstrap_reach_ci`). docs/metrics.md records the output.

    .venv/bin/python benchmarks/prdc_interval_check.py [--draws 200] [--resamples 300]
"""

from __future__ import annotations

import argparse

import numpy as np

from gaunet.metrics.prdc import prdc

METRICS = ("precision", "recall", "density", "coverage")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=300)
    parser.add_argument("--real", type=int, default=156, help="real images (BreastMNIST's test)")
    parser.add_argument("--dims", type=int, default=8)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    real = rng.normal(size=(args.real, args.dims))
    print(f"{args.real} real, {args.dims}-d, {args.draws} draws, {args.resamples} resamples")
    print("n_synthetic metric     sd_over_draws  mean_half_width  share_holding_the_mean")
    for n in (10, 40, 156):
        draws = [
            prdc(real, rng.normal(size=(n, args.dims)) * 1.15 + 0.25, resamples=args.resamples)
            for _ in range(args.draws)
        ]
        for name in METRICS:
            values = np.array([d[name]["value"] for d in draws])
            low, high = np.array([d[name]["ci95"] for d in draws]).T
            held = np.mean((low <= values.mean()) & (values.mean() <= high))
            half = np.mean(high - low) / 2
            print(f"{n:11d} {name:10s} {values.std():13.3f} {half:16.3f} {held:23.2f}")


if __name__ == "__main__":
    main()
