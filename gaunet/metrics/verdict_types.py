"""The verdict type and its levels, apart from the rules in gaunet.metrics.verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
