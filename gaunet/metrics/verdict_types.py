"""The verdict type and its levels, apart from the rules in gaunet.metrics.verdict (but for
`missing_classes`, which reads only the sample counts, and `unreadable_copy_rate`, only one
audit's threshold)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

UNUSABLE, WARNING, OK, NOTE = "unusable", "warning", "ok", "note"


@dataclass(frozen=True)
class Verdict:
    level: str  # unusable | warning | ok | note
    topic: str
    message: str
    next_step: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def line(self, next_step: bool = True) -> str:
        text = f"{self.level.upper()} ({self.topic}): {self.message}"
        return f"{text} Next: {self.next_step}" if self.next_step and next_step else text


def verdict_lines(verdicts: list[Verdict]) -> list[str]:
    """One line per verdict; a next step already given on an earlier line is not repeated."""
    given: set[str] = set()
    lines = []
    for v in verdicts:
        lines.append(v.line(next_step=not any(v.next_step in g for g in given)))
        given.add(v.next_step)
    return lines


def missing_classes(result: dict[str, Any]) -> list[Verdict]:
    """A real class with no synthetic image: every other verdict speaks of the rest only."""
    samples = result.get("samples") or {}
    counts = samples.get("per_class_synthetic") or {}
    missing = [name for name, n in counts.items() if not n]
    if not missing or len(missing) == len(counts):
        return []
    cap = samples.get("max_images")  # blamed only where it took a sample: the set is at it
    capped = (
        " or a --max-images sample too small to hold it"
        if cap and sum(counts.values()) >= cap
        else ""
    )
    return [
        Verdict(
            WARNING,
            "classes",
            f"No synthetic image of class {', '.join(missing)} (of {len(counts)} real classes): "
            "the other verdicts speak of the other classes only, and adding these images to a "
            "training set would shift its class balance.",
            f"generate every class (`gaunet generate --per-class N` writes N of each); check "
            f"the synthetic folder for a missing class folder{capped}",
        )
    ]


def unreadable_copy_rate(audit: dict[str, Any], space: str) -> list[Verdict]:
    """A copy threshold of 0 (the real images that set it have identical twins): no image is
    closer than 0, so a copy rate of 0 said "no sign of copying" even of exact copies."""
    if audit.get("threshold") != 0.0:
        return []
    exact = (audit.get("synthetic_to_train") or {}).get("min") == 0.0
    found = (
        "Some images ARE exact copies of training images (distance 0)."
        if exact
        else "No image is an exact copy of a training image."
    )
    return [
        Verdict(
            WARNING if exact else NOTE,
            "copies",
            f"Copy rate ({space}) cannot be read: its threshold is 0, because the real images "
            f"that set it have identical twins, and no image is closer than 0. {found}",
            "look at the closest pairs (--figures); a test split of images distinct from the "
            "training images sets a usable threshold",
        )
    ]
