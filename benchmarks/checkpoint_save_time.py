"""What one checkpoint save costs a preset: `gaunet train` for a step or two into a temporary
folder, with gaunet.training.loop.save_checkpoint timed (serialise, sha256, atomic writes), and
that time as a share of checkpoint_minutes, the clock's cadence (docs/reliability.md).

    python benchmarks/checkpoint_save_time.py --data ../shared/data/breastmnist.npz \
        --config paper --set size=28 --set channels=1 --set pad_input=true

prints one line: preset, bytes of last.pt, each save's seconds, and the share of
checkpoint_minutes the slowest takes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from gaunet.config import parse_overrides
from gaunet.training import loop, train


def timed_saves(
    data: str, config: str, overrides: dict, steps: int
) -> tuple[int, list[float], float]:
    """(bytes of last.pt, seconds of each save, the run's checkpoint_minutes) of a `steps`-step
    run of `config`."""
    real_save = loop.save_checkpoint
    seconds: list[float] = []

    def save(state: dict, paths: list[Path]) -> str:
        start = time.perf_counter()
        digest = real_save(state, paths)
        seconds.append(time.perf_counter() - start)
        return digest

    loop.save_checkpoint = save
    try:
        with tempfile.TemporaryDirectory() as folder:
            run = train(data, Path(folder) / "run", config=config, overrides=overrides, steps=steps)
            size = (run / "checkpoints" / "last.pt").stat().st_size
            minutes = yaml.safe_load((run / "config.yaml").read_text())["checkpoint_minutes"]
    finally:
        loop.save_checkpoint = real_save
    return size, seconds, minutes


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--config", default="paper")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    overrides = {"sample_every": 0, "tensorboard": False, **parse_overrides(args.set)}
    size, seconds, minutes = timed_saves(args.data, args.config, overrides, args.steps)
    share = max(seconds) / (minutes * 60) if minutes else float("nan")
    line = (
        f"{args.config} {size} bytes, saves {' '.join(f'{s:.2f}' for s in seconds)} s, "
        f"{share:.2%} of checkpoint_minutes {minutes:g}"
    )
    print(line)
    return line


if __name__ == "__main__":
    main()
