"""Evaluation of synthetic images: feature extractors (registry) and one file per metric.

`evaluate(real, synthetic, features=("domain",), ...)` runs the chosen metrics and returns one
dict with every number, its extractor and its sample sizes; `gaunet evaluate` wraps it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["evaluate"]


def evaluate(*args: Any, **kwargs: Any) -> dict:
    """See gaunet.metrics.evaluate.evaluate (imported lazily: metric modules stay light)."""
    from gaunet.metrics.evaluate import evaluate as _evaluate

    return _evaluate(*args, **kwargs)
