"""Augmentation arms: what is added to the real training images of one fraction subset, by
name.

`none` adds nothing; `classic` augments on the fly (networks) or adds augmented copies (SVM);
`gaunet`, `gan` and `cgan` add a generator's images (generator_arms.py trains, caches and
samples them), and a run folder given as an arm adds that run's. `gaunet+classic` (any
generator name + `+classic`) adds the same generator's images AND augments every batch on the
fly, as users would combine them; it reuses the generator arm's run and images. `copies` adds
plain copies of the real images (the control), `more-real` new real images (the ceiling).
`typical-copies` is the control of `--filter-pool K`: what the filter keeps from a generator
that ignores its noise, K copies of every real image with the most confident kept, i.e. copies
of the real images the filter's scorer is surest of.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaunet.config import load_config
from gaunet.downstream import snapshots
from gaunet.errors import GaunetError

GENERATOR_MODELS = ("gaunet", "gan", "cgan")
# control arm: the extra images are plain copies of the real ones (same count, weight, smoothing
# and schedule as a generator's), so a gain of `gaunet` over `copies` is the images' own
COPIES = "copies"
# ceiling arm: the extra images are real training images from outside the fraction subset (the
# ones a larger subset would add next), so its gain is the most new images of the class could give
MORE_REAL = "more-real"
# control of --filter-pool K: the filter's choice among K copies of each real image, so a gain
# of filtered `gaunet` over it is more than choosing the most typical real images
TYPICAL_COPIES = "typical-copies"


@dataclass(frozen=True)
class Arm:
    """name: column value in results.csv; kind: none | classic | copies | typical-copies |
    more-real | generator | run;
    classic: the batches are also augmented on the fly (`classic` and `<generator>+classic`)."""

    name: str
    kind: str
    run: Path | None = None
    classic: bool = False

    @property
    def model(self) -> str:
        """The generator this arm's images come from (`gaunet` for `gaunet+classic`)."""
        return self.name.removesuffix(COMBINED)


COMBINED = "+classic"


def parse_arms(specs: list[str]) -> list[Arm]:
    """Arm names or run folders -> Arms; anything else is a clear error."""
    arms = []
    for spec in specs:
        if spec in ("none", "classic"):
            arms.append(Arm(spec, spec, classic=spec == "classic"))
        elif spec in (COPIES, COPIES + COMBINED):
            arms.append(Arm(spec, "copies", classic=spec != COPIES))
        elif spec in (MORE_REAL, MORE_REAL + COMBINED):
            arms.append(Arm(spec, MORE_REAL, classic=spec != MORE_REAL))
        elif spec in (TYPICAL_COPIES, TYPICAL_COPIES + COMBINED):
            arms.append(Arm(spec, TYPICAL_COPIES, classic=spec != TYPICAL_COPIES))
        elif spec in GENERATOR_MODELS:
            arms.append(Arm(spec, "generator"))
        elif spec.endswith(COMBINED) and spec.removesuffix(COMBINED) in GENERATOR_MODELS:
            arms.append(Arm(spec, "generator", classic=True))
        elif Path(spec).is_dir() or (
            spec.endswith(COMBINED) and Path(spec.removesuffix(COMBINED)).is_dir()
        ):
            combined = not Path(spec).is_dir()
            run = Path(spec.removesuffix(COMBINED) if combined else spec)
            if not (run / "split.csv").is_file():
                raise GaunetError(f"{run}: arm folder has no split.csv, so it is not a run folder")
            name = f"run:{run.name}{COMBINED if combined else ''}"
            arms.append(Arm(name, "run", run, classic=combined))
        else:
            models = ", ".join(GENERATOR_MODELS)
            raise GaunetError(
                f"arm {spec!r}: not none, classic, {COPIES}, {TYPICAL_COPIES}, {MORE_REAL}, "
                f"{models}, one of those + "
                f"'{COMBINED}' or a run folder"
            )
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise GaunetError(f"arms {names}: each arm may appear once")
    return arms


def per_class_targets(labels: np.ndarray, num_classes: int, ratio: float) -> np.ndarray:
    """Synthetic images wanted per class: round(ratio * real count of that class)."""
    counts = np.bincount(labels, minlength=num_classes)
    return np.rint(counts * ratio).astype(np.int64)


def snapshot_overrides_for(
    model: str, gen_config: str, gen_steps: int | None, gen_minutes: float | None
) -> dict:
    """The generator config overrides --select-snapshot needs for this arm's training run
    (snapshots.snapshot_overrides); refuses a config that cannot serve, before any training."""
    config = load_config(gen_config, overrides={"model": model})
    steps = gen_steps or (None if gen_minutes else config.steps)
    return snapshots.snapshot_overrides(config.periodic_every, config.keep_periodic, steps)
