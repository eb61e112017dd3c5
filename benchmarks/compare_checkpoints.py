"""Whether two training checkpoints hold the same numbers, tensor by tensor (generator, critic,
EMA, both optimizers, sampler): the check that a change left CPU training bit for bit as it was.

    .venv/bin/python benchmarks/compare_checkpoints.py OLD/checkpoints/last.pt NEW/checkpoints/last.pt

Train both with the same command, one in a `git worktree` of the older commit (docs/performance.md
gives the commands). Prints how many tensors were compared and which differ; exits 1 if any does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from gaunet.training.checkpoint import load_checkpoint  # noqa: E402


def tensors(state: object, path: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor of a checkpoint's nested dicts and lists, with its path."""
    if isinstance(state, torch.Tensor):
        yield path, state
    elif isinstance(state, dict):
        for key, value in state.items():
            yield from tensors(value, f"{path}/{key}")
    elif isinstance(state, (list, tuple)):
        for index, value in enumerate(state):
            yield from tensors(value, f"{path}[{index}]")


def compare(first: Path, second: Path) -> tuple[int, list[str]]:
    """(tensors compared, paths that differ or are missing from one side)."""
    a = dict(tensors(load_checkpoint(first, fallback=False)[0]))
    b = dict(tensors(load_checkpoint(second, fallback=False)[0]))
    differ = sorted(set(a) ^ set(b))
    differ += [p for p in sorted(set(a) & set(b)) if not torch.equal(a[p], b[p])]
    return len(set(a) | set(b)), differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    args = parser.parse_args(argv)
    count, differ = compare(args.first, args.second)
    for path in differ:
        print(f"differs: {path}")
    print(f"{count} tensors, {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
