"""Training: one loop for every model family (`train`), losses, checkpoints, the run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def train(*args: Any, **kwargs: Any) -> Path:
    """See gaunet.training.api.train; imported lazily so `gaunet.training.losses` stays light."""
    from gaunet.training.api import train as _train

    return _train(*args, **kwargs)


__all__ = ["train"]
