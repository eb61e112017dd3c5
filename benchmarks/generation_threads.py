"""How far one generator forward moves between thread counts on this CPU: the cpu-tiny U-Net
(seeded, untrained), in eval mode as generation runs it, on one GENERATION_CHUNK of images,
at 1 and at 2 torch threads. docs/architecture.md quotes it: generated files are identical
for any --batch-size by construction, not for any thread count.

    .venv/bin/python benchmarks/generation_threads.py
"""

from __future__ import annotations

import torch

from gaunet.config import load_config
from gaunet.trained_generator import GENERATION_CHUNK
from gaunet.training.loss_gaunet import build_generator


def main() -> None:
    cfg = load_config("cpu-tiny", {"precision": "fp32"})
    torch.manual_seed(0)
    generator = build_generator(cfg, num_classes=2).eval()
    x = torch.rand(GENERATION_CHUNK, cfg.channels, cfg.size, cfg.size) * 2 - 1
    z = torch.randn(GENERATION_CHUNK, cfg.z_dim)
    labels = torch.arange(GENERATION_CHUNK) % 2
    outputs = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            outputs.append(generator(x, z, labels))
    gap = float((outputs[0] - outputs[1]).abs().max())
    pixels = ((outputs[0] + 1) * 127.5).round() != ((outputs[1] + 1) * 127.5).round()
    print(
        f"largest difference 1 vs 2 threads: {gap:.3g}; 8-bit pixels changed: {int(pixels.sum())}"
    )


if __name__ == "__main__":
    main()
