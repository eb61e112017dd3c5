"""summary.md's sentences claim only what was measured: a network whose seeds happened to give
the same difference is not called deterministic, a generator with no `none` to be judged
against gets no advice on the generator, `--gen-init-from` is suggested only where the
benchmark uses it, and the verdicts' seed count covers every comparison they judge."""

from __future__ import annotations

from downstream_helpers import summary_text

SETTINGS = {"data": "phantom", "size": 28, "seeds": 4, "select_snapshot": "last"}
NONE = [0.60, 0.62, 0.61, 0.63]


def _markdown(values: dict[tuple, list], classifiers=("resnet18",)) -> str:
    return summary_text(values, SETTINGS, classifiers)


def test_a_network_with_the_same_difference_on_every_seed_is_told_to_add_seeds() -> None:
    """ResNet-18's seeds are independent repeats: the same difference on each is chance, and
    more seeds can change it, unlike the SVM's."""
    text = _markdown(
        {
            ("resnet18", "none", 0.5): NONE,
            ("resnet18", "more-real", 0.5): [v + 0.01 for v in NONE],
            ("resnet18", "gaunet", 0.5): NONE,
        }
    )
    ceiling = text.split("Ceiling (`more-real`")[1].split("\n\n")[1]
    assert "deterministic" not in ceiling
    assert "more seeds cannot change it" not in ceiling
    assert "add seeds" in ceiling


def test_the_svm_ceiling_still_says_more_seeds_cannot_change_it() -> None:
    text = _markdown(
        {
            ("svm", "none", 0.5): [0.6] * 4,
            ("svm", "more-real", 0.5): [0.7] * 4,
            ("svm", "gaunet", 0.5): [0.6] * 4,
        },
        classifiers=("svm",),
    )
    assert "more seeds cannot change it" in text.split("Ceiling (`more-real`")[1]


def test_a_generator_without_none_gets_no_advice_on_the_generator() -> None:
    """Without `none` there is no verdict: the advice asks for the arm, not for a better
    generator it has no measurement to base on."""
    text = _markdown({("resnet18", "gaunet", 0.5): NONE, ("resnet18", "copies", 0.5): NONE})
    assert "No generator arm improved accuracy significantly" not in text
    assert "No generator arm could be judged" in text
    assert "add `none` to `--arms`" in text
    assert "--select-snapshot fd-val" not in text


def test_gen_init_from_is_suggested_only_for_a_gaunet_arm() -> None:
    """The benchmark passes --gen-init-from to its `gaunet` arms only (generator_arms.py)."""
    gan = _markdown({("resnet18", "none", 0.5): NONE, ("resnet18", "gan", 0.5): NONE})
    assert "What to try next" in gan
    assert "--gen-init-from" not in gan
    gaunet = _markdown({("resnet18", "none", 0.5): NONE, ("resnet18", "gaunet", 0.5): NONE})
    assert "--gen-init-from" in gaunet


def test_the_verdicts_seed_count_covers_the_comparison_against_classic() -> None:
    """gaunet+classic ran on seeds 0-2, classic on 1-3: each pairs 3 seeds with `none`, but the
    verdict against classic alone pairs only 2, and the header must not say 3."""
    text = _markdown(
        {
            ("resnet18", "none", 0.5): NONE,
            ("resnet18", "classic", 0.5): [None, 0.64, 0.62, 0.66],
            ("resnet18", "gaunet+classic", 0.5): [0.61, 0.66, 0.63, None],
        }
    )
    assert "paired t-test p = " in text and ", 2 seeds)." in text
    assert "paired over as few as 2 of the 4 seeds" in text


def test_a_p_value_beside_the_05_line_is_not_rounded_onto_it() -> None:
    """p = 0.0496 is significant and 0.0504 is not: the table must not show both as 0.05."""
    from gaunet.downstream.gains import gain_text

    low = gain_text({"mean": 0.02, "half": 0.019, "p": 0.0496}, [])
    high = gain_text({"mean": 0.02, "half": 0.021, "p": 0.0504}, [])
    assert "p=0.0496" in low and "p=0.0504" in high
    assert "p=0.12" in gain_text({"mean": 0.02, "half": 0.03, "p": 0.1234}, [])


def test_the_detectable_gain_of_a_combined_arm_is_against_classic() -> None:
    """`X+classic` is judged against classic alone: its smallest detectable gain is that
    comparison's (it was the one against `none`, which no verdict reads)."""
    from gaunet.downstream.report import summarise
    from gaunet.downstream.stats import METRICS

    values = {
        ("resnet18", "none", 0.5): NONE,
        ("resnet18", "classic", 0.5): [0.70, 0.75, 0.69, 0.74],
        ("resnet18", "gaunet+classic", 0.5): [0.71, 0.73, 0.72, 0.72],
    }
    text = _markdown(values)
    table = text.split("Smallest gain")[1]
    row = next(line for line in table.splitlines() if "| gaunet+classic |" in line)
    rows = [
        {"classifier": c, "fraction": f, "arm": a, "metric": m, "seed": s, "value": v}
        for (c, a, f), seeds in values.items()
        for s, v in enumerate(seeds)
        for m in METRICS
    ]
    order = {
        "classifiers": ["resnet18"],
        "fractions": [0.5],
        "arms": list({a for _, a, _ in values}),
    }
    entry = next(e for e in summarise(rows, order) if e["arm"] == "gaunet+classic")
    mde = entry["gain_vs_classic"]["accuracy"]["mde"] * 100
    assert row.split("|")[4].strip() == "classic"
    assert row.split("|")[5].strip() == f"{mde:.1f}"
    assert f"{entry['gain']['accuracy']['mde'] * 100:.1f}" != f"{mde:.1f}"  # the two differ
