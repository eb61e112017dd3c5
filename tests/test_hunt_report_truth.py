"""summary.md says only what its numbers carry: a gain plain copies match is not called the
generated images', a deterministic classifier's ceiling is not told to add seeds, a
multi-fraction grid's advice names the fraction it is about, and a measured number quoted in
the advice is marked where its interval includes 0."""

from __future__ import annotations

from downstream_helpers import summary_text

from gaunet import evidence
from gaunet.downstream.advice import next_steps

SETTINGS = {"data": "phantom", "size": 28, "seeds": 4, "select_snapshot": "last"}
NONE = [0.60, 0.62, 0.61, 0.63]
SAME = [0.61, 0.61, 0.62, 0.62]  # about +0.0: not significant
UP = [0.70, 0.73, 0.71, 0.72]  # about +10 points, every seed


def _markdown(values: dict[tuple, list], classifiers=("resnet18",)) -> str:
    return summary_text(values, SETTINGS, classifiers)


def test_a_gain_that_plain_copies_match_is_not_left_as_help() -> None:
    """gaunet+classic beats classic alone, but copies+classic does just as well: summary.md
    gives the verdict against copies and says the gain is not shown to be the images'."""
    text = _markdown(
        {
            ("resnet18", "none", 0.5): NONE,
            ("resnet18", "classic", 0.5): NONE,
            ("resnet18", "gaunet+classic", 0.5): UP,
            ("resnet18", "copies+classic", 0.5): [0.71, 0.72, 0.70, 0.73],
        }
    )
    verdicts = text.split("Verdicts")[1]
    assert (
        "GAU-Net images + classic augmentation, against plain copies of the real images with "
        "classic augmentation: no significant difference"
    ) in verdicts
    assert "not significantly more than the same number of plain copies" in text
    assert "What to try next" in text


def test_a_gain_beyond_copies_gets_no_what_to_try_next() -> None:
    text = _markdown(
        {
            ("resnet18", "none", 0.5): NONE,
            ("resnet18", "gaunet", 0.5): UP,
            ("resnet18", "copies", 0.5): SAME,
        }
    )
    assert "GAU-Net images, against plain copies of the real images: augmentation helped" in text
    assert "What to try next" not in text


def test_a_ceiling_without_spread_is_not_told_to_add_seeds() -> None:
    """A deterministic SVM gives every seed the same difference: no interval, and more seeds
    cannot change that, so neither the ceiling line nor the advice may ask for them."""
    text = _markdown(
        {
            ("svm", "none", 0.5): [0.6] * 4,
            ("svm", "more-real", 0.5): [0.7] * 4,
            ("svm", "gaunet", 0.5): [0.6] * 4,
        },
        classifiers=("svm",),
    )
    ceiling = text.split("Ceiling (`more-real`")[1]
    assert "not significant even for new real images" not in ceiling
    assert "more seeds cannot change it" in ceiling
    assert "Even new real images (`more-real`) did not help" not in text


def test_ceiling_advice_names_the_fraction_it_is_about() -> None:
    """more-real helps at 0.25 and not at 0.5: the advice says where it did not help, and a
    fraction without the ceiling arm is named for measuring it."""
    text = _markdown(
        {
            ("resnet18", "none", 0.25): NONE,
            ("resnet18", "more-real", 0.25): UP,
            ("resnet18", "gaunet", 0.25): SAME,
            ("resnet18", "none", 0.5): NONE,
            ("resnet18", "more-real", 0.5): SAME,
            ("resnet18", "gaunet", 0.5): SAME,
            ("resnet18", "none", 0.75): NONE,
            ("resnet18", "gaunet", 0.75): SAME,
        }
    )
    steps = text.split("What to try next")[1].split("Ceiling (")[0]
    assert "did not help significantly for resnet18 at fraction 0.5:" in steps
    assert "Measure the ceiling at fraction 0.75:" in steps


def test_an_evidence_number_whose_interval_includes_zero_is_marked() -> None:
    entry = {
        "classifier": "resnet18",
        "fraction": 0.25,
        "arm": "gaunet",
        "metrics": {},
        "gain": {"accuracy": {"mean": 0.0, "half": 0.02, "p": 0.9, "n": 10}},
    }
    text = "\n".join(next_steps([entry], SETTINGS))
    (step,) = [line for line in text.splitlines() if "--select-snapshot fd-val" in line]
    key = "fdval_vs_last_combined"
    for metric, label in (("accuracy", "accuracy"), ("auc", "AUC points")):
        quoted = evidence.gain(key, metric)
        marked = f"{quoted} (not significant) {label}" in step
        assert marked or f"{quoted} {label}" in step, (metric, step)  # quoted either way
        assert marked is not evidence.significant(key, metric), (metric, step)
    assert "it beat the last snapshot" not in step
