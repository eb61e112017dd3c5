"""`gaunet demo`: the whole value of gaunet in one command, on data that needs no download.

inspect -> split -> train -> generate -> evaluate -> downstream -> report, each step a method
that writes its outputs into DIR and is skipped on a rerun when they exist, so an interrupted
demo continues where it stopped. The generators are trained on the low-data training subset
(a fraction of the training split) and on nothing else; the downstream benchmark adds their
images to exactly that subset, so no validation or test image can reach a classifier through a
generator (the benchmark re-checks this from the run's split.csv and the synthetic manifest).

settings (what is asked, `--data auto`), layout (where each step writes), pipeline (the steps),
report and report_images (the HTML report), commands (how to reproduce each part).
"""

from gaunet.demo.commands import reproduce_commands
from gaunet.demo.layout import DemoFolder
from gaunet.demo.pipeline import Demo
from gaunet.demo.settings import (
    BASELINE_MODELS,
    CLI_OPTIONS,
    PINNED,
    STEPS,
    DemoSettings,
    demo_data_candidates,
    resolve_demo_data,
)

__all__ = [
    "BASELINE_MODELS", "CLI_OPTIONS", "PINNED", "STEPS", "Demo", "DemoFolder", "DemoSettings",
    "demo_data_candidates", "reproduce_commands", "resolve_demo_data",
]  # fmt: skip
