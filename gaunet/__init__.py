"""gaunet: generative adversarial U-Net augmentation for small labelled medical-image datasets.

Public Python API (the rest is internal):
    load_source(spec, size, channels) -> ImageSet      read any SOURCE the CLI accepts
    load_source(spec, size, channels, split_from=RUN)  ... with the split that training run used
    load_generator(run_or_checkpoint) -> generator     `.sample(class_index, n, seed)` -> tensor

A classifier trained on `load_source(SOURCE, split_from=RUN).where_split("train")` sees the
generator's training rows only, and `where_split("test")` holds no image the generator saw:

    data = gaunet.load_source("data.npz", size=64, channels=1, split_from="runs/gaunet")
    train, val, test = (data.where_split(s) for s in ("train", "val", "test"))
"""

from __future__ import annotations

from typing import Any

from gaunet.data import ImageSet, load_source

__version__ = "0.1.0"
__all__ = ["ImageSet", "__version__", "load_generator", "load_source"]


def load_generator(run_or_checkpoint: Any, **kwargs: Any) -> Any:
    """A trained generator ready to sample, from a run folder or a checkpoint file."""
    from gaunet.trained_generator import load_generator as _load

    return _load(run_or_checkpoint, **kwargs)
