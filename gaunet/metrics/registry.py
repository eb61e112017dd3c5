"""The metrics `evaluate` runs, in the manner of stylegan2-ada-pytorch's `metric_main`.

A metric is one function `compute(inputs: MetricInputs) -> entry`, kept beside its maths, and
one `register_metric` line below: its key in the `evaluate` result and what it needs (a key of
gaunet.metrics.inputs.NEEDS). A metric whose needs are not met is left out of the result.
Metrics run, and their entries appear, in registration order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gaunet.metrics import distribution, diversity, fidelity, memorization
from gaunet.metrics.inputs import NEEDS, MetricInputs


@dataclass(frozen=True)
class Metric:
    key: str  # the entry's key in the evaluate result
    compute: Callable[[MetricInputs], Any]
    needs: tuple[str, ...] = ()


_METRICS: dict[str, Metric] = {}


def register_metric(
    key: str, compute: Callable[[MetricInputs], Any], needs: Sequence[str] = ()
) -> None:
    """Add a metric; its entry is `result[key] = compute(inputs)` when all `needs` are met."""
    unknown = [need for need in needs if need not in NEEDS]
    if unknown:
        raise ValueError(f"metric {key!r}: unknown need {unknown[0]!r} (know {', '.join(NEEDS)})")
    if key in _METRICS:
        raise ValueError(f"metric {key!r} is registered twice")
    _METRICS[key] = Metric(key, compute, tuple(needs))


def list_metrics() -> list[str]:
    return list(_METRICS)


def compute_metrics(inputs: MetricInputs) -> dict[str, Any]:
    """Every registered metric whose needs the inputs meet, keyed as registered."""
    return {
        metric.key: metric.compute(inputs)
        for metric in _METRICS.values()
        if all(inputs.has(need) for need in metric.needs)
    }


register_metric("features", distribution.feature_entries, needs=("images", "labels", "extractors"))
register_metric("PA", fidelity.pa_entry, needs=("domain classifier", "labels"))
register_metric("domain_classifier", fidelity.domain_classifier_entry, needs=("domain classifier",))
register_metric("memorization", memorization.memorization_entry, needs=("images", "labels"))
register_metric("noise_diversity", diversity.noise_diversity_entry, needs=("generator",))
