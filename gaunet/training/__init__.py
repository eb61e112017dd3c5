"""Training: one loop for every model family (`train`), the losses beside it (`loss*.py`),
checkpoints and the run folder."""

from gaunet.training.api import train

__all__ = ["train"]
