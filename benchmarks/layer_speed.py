"""Per-layer CPU timings behind the step optimisations of docs/performance.md: gaunet's dropout,
2x2 pooling and batch-renorm statistics against the PyTorch operations they replace, and the
issue-17 layer levers (bf16 layer norm, dense-block feature buffer) against today's layers.

    .venv/bin/python benchmarks/layer_speed.py [--threads 1] [--repeats 30]

Prints one line per comparison: milliseconds per call (mean over --repeats after one warm-up).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from gaunet.models.dense import AvgPool2x2, DenseBlock, Dropout, LayerNorm2d


def milliseconds(call: Callable[[], object], repeats: int) -> float:
    call()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats * 1e3


def comparisons() -> list[tuple[str, Callable[[], object], Callable[[], object]]]:
    """(what, PyTorch's way, gaunet's way) on the activation shapes named in the docs."""
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.randn(32, 64, 32, 32, dtype=dtype)
        ours = Dropout(0.2).train()
        rows.append(
            (
                f"dropout p=0.2, 32x64x32x32 {dtype}",
                lambda x=x: F.dropout(x, 0.2, True),
                lambda x=x, d=ours: d(x),
            )
        )
    pool_in = torch.randn(32, 24, 32, 32, dtype=torch.bfloat16, requires_grad=True)
    pool_grad = torch.randn(32, 24, 16, 16, dtype=torch.bfloat16)
    rows.append(
        (
            "2x2 avg pool forward+backward, 32x24x32x32 bf16",
            lambda: F.avg_pool2d(pool_in, 2, ceil_mode=True).backward(pool_grad),
            lambda: AvgPool2x2()(pool_in).backward(pool_grad),
        )
    )
    act = torch.randn(32, 64, 28, 28, dtype=torch.bfloat16)
    rows.append(
        (
            "batch statistics (fp32), 32x64x28x28 bf16 input",
            lambda: torch.var_mean(act.float(), (0, 2, 3), unbiased=False),
            lambda: torch.native_batch_norm(act.float(), None, None, None, None, True, 0.0, 1e-5),
        )
    )
    # issue 17 (on a GPU, benchmarks/gpu_check.sh with GPU_CHECK_MODE=levers times them in the
    # training step): forward + backward under bf16 autocast
    norm_in = torch.randn(16, 128, 32, 32, requires_grad=True)
    norm_grad = torch.randn(16, 128, 32, 32, dtype=torch.bfloat16)
    norms = torch.nn.GroupNorm(1, 128), LayerNorm2d(128)

    def norm_step(norm):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = norm(norm_in.bfloat16())
        out.backward(norm_grad.to(out.dtype))

    rows.append(
        (
            "layer norm fwd+bwd, 16x128x32x32 bf16 autocast",
            lambda: norm_step(norms[0]),
            lambda: norm_step(norms[1]),
        )
    )
    block_in = torch.randn(16, 64, 16, 16, requires_grad=True)
    blocks = [DenseBlock(64, 32, 4, 0.0, feature_buffer=b) for b in (False, True)]

    def block_step(block):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = block(block_in)
        out.float().sum().backward()

    rows.append(
        (
            "dense block fwd+bwd cat vs buffer, 16x64x16x16 k=32",
            lambda: block_step(blocks[0]),
            lambda: block_step(blocks[1]),
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), ms per call")
    for what, theirs, ours in comparisons():
        before, after = milliseconds(theirs, args.repeats), milliseconds(ours, args.repeats)
        print(f"{what:52s} torch {before:7.2f}  gaunet {after:7.2f}  ({before / after:.1f}x)")


if __name__ == "__main__":
    main()
