"""summary.md's cautions and advice fit the rows they are about: the `typical-copies` control of
an arm's own kind, a perfect W/O that no seed or image can raise, a `copies` caution that names
its fraction in a mixed grid, and a gain plain copies match beside an arm that beat them."""

from __future__ import annotations

from downstream_helpers import summary_text

SETTINGS = {"data": "phantom", "size": 28, "seeds": 4, "select_snapshot": "last"}
NONE = [0.60, 0.62, 0.61, 0.63]
SAME = [0.61, 0.61, 0.62, 0.62]  # about +0.0: not significant
UP = [0.70, 0.73, 0.71, 0.72]  # about +10 points, every seed
BIG = [0.80, 0.83, 0.81, 0.82]  # about +20 points
COPIES = [0.70, 0.72, 0.715, 0.72]  # about UP


def test_typical_copies_alone_does_not_control_a_combined_arm() -> None:
    """gaunet+classic beat copies+classic under --filter-pool, and only `typical-copies` (not
    `typical-copies+classic`) ran: nothing compares the combined arm with the filter's choice,
    so the caution must still ask for it."""
    text = summary_text(
        {
            ("resnet18", "none", 0.5): NONE,
            ("resnet18", "classic", 0.5): NONE,
            ("resnet18", "gaunet+classic", 0.5): UP,
            ("resnet18", "copies+classic", 0.5): SAME,
            ("resnet18", "typical-copies", 0.5): SAME,
        },
        {**SETTINGS, "filter_pool": 3},
    )
    assert "`gaunet+classic` beat the `copies` control with `--filter-pool`" in text


def test_a_perfect_baseline_is_not_told_to_add_seeds() -> None:
    """W/O at accuracy 1.0 on every seed: the same difference (0) on each seed is no chance
    and no determinism, and neither more seeds nor a better generator can raise it."""
    one = [1.0] * 4
    text = summary_text(
        {
            ("resnet18", "none", 0.5): one,
            ("resnet18", "more-real", 0.5): one,
            ("resnet18", "gaunet", 0.5): one,
        },
        SETTINGS,
    )
    assert "add seeds" not in text
    assert "by chance" not in text
    assert "--select-snapshot fd-val" not in text  # no generator lever can help here
    ceiling = text.split("Ceiling (`more-real`")[1].split("\n\n")[1]
    assert "already at 1.0 on every seed" in ceiling
    verdicts = text.split("Verdicts")[1].split("\n\n")[1]
    assert verdicts.count("accuracy was 1.0 on every seed compared, with and without") == 2


def test_a_copies_caution_names_the_fraction_without_the_control() -> None:
    """copies ran at fraction 0.5 only: the caution is about gaunet at 0.25, not at 0.5, where
    the control ran beside it."""
    text = summary_text(
        {
            ("resnet18", "none", 0.25): NONE,
            ("resnet18", "gaunet", 0.25): UP,
            ("resnet18", "none", 0.5): NONE,
            ("resnet18", "gaunet", 0.5): BIG,
            ("resnet18", "copies", 0.5): UP,
        },
        SETTINGS,
    )
    assert "Before relying on the gain of `gaunet` (resnet18 at fraction 0.25):" in text


def test_a_gain_copies_match_is_said_beside_an_arm_that_beat_them() -> None:
    """gaunet beat copies, gan only matched them: "what to try next" is left out (an arm
    helped), so the gan gain must still be said not to be the images'."""
    text = summary_text(
        {
            ("resnet18", "none", 0.5): NONE,
            ("resnet18", "gaunet", 0.5): BIG,
            ("resnet18", "gan", 0.5): UP,
            ("resnet18", "copies", 0.5): COPIES,
        },
        SETTINGS,
    )
    assert "What to try next" not in text
    (line,) = [x for x in text.splitlines() if "not shown to be the generated images'" in x]
    assert line.startswith("`gan` (resnet18 at fraction 0.5) helped, but not significantly")
    assert "`gaunet`" not in line
