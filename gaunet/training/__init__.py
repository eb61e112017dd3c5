"""Training: one loop for every model family (`train`), the losses beside it (`loss*.py`),
checkpoints and the run folder."""

from gaunet.training.api import train, train_together

__all__ = ["train", "train_together"]
