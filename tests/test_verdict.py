"""Verdicts on synthetic images (gaunet.metrics.verdict): each rule fires exactly at its
documented threshold, conflicting messages are gone, and a copy rate of 0 on images that fail
the fidelity checks is never a pass."""

from __future__ import annotations

import pytest

from gaunet.metrics import verdict as v
from gaunet.metrics.domain_trust import domain_classifier_check, domain_note, trust_threshold
from gaunet.metrics.verdict import NOTE, OK, UNUSABLE, WARNING, image_verdicts, verdict_lines


def _stat(value: float) -> dict:
    return {"value": value, "ci95": [max(0.0, value - 0.05), min(1.0, value + 0.05)]}


def make_result(
    pa: float = 0.9,
    per_class_pa: tuple[float, float] = (0.9, 0.9),
    domain_accuracy: float = 0.95,
    test_counts: tuple[int, int] = (50, 50),
    precision: dict[str, float] | None = None,
    recall: dict[str, float] | None = None,
    copy: dict[str, float] | None = None,
    diversity: float | None = 0.5,
) -> dict:
    """An evaluate result with the fields the verdicts read; defaults describe good images."""
    precision = {"inception": 0.9, "domain": 0.9, **(precision or {})}
    recall = {"inception": 0.9, "domain": 0.9, **(recall or {})}
    copy = {"pixel": 0.05, "domain": 0.05, **(copy or {})}
    classes = ["a", "b"]
    features = {}
    for name in ("inception", "domain"):
        prdc = {
            "precision": _stat(precision[name]),
            "recall": _stat(recall[name]),
            "density": _stat(1.0),
            "coverage": _stat(0.9),
        }
        features[name] = {
            "available": True,
            "metric_name": "FID" if name == "inception" else "FD_domain",
            "overall": {"PRDC": prdc, "n_real": 100, "n_synthetic": 100},
        }
    counts = dict(zip(classes, test_counts))
    result = {
        "classes": classes,
        "reference_split": "test",
        "samples": {"per_class_reference": counts},
        "features": features,
        "PA": {
            **_stat(pa),
            "n": 100,
            "per_class": {c: {**_stat(p), "n": 50} for c, p in zip(classes, per_class_pa)},
            "real_reference_accuracy": _stat(domain_accuracy),
        },
        "domain_classifier": domain_classifier_check(domain_accuracy, counts, 2),
        "memorization": {s: {"copy_rate": r} for s, r in copy.items()},
    }
    if diversity is not None:
        result["noise_diversity"] = {
            "ratio": diversity,
            "within_source": diversity * 0.2,
            "real_pairs": 0.2,
            "to_source": 0.1,
        }
    return result


def levels(result: dict, topic: str) -> list[str]:
    return [x.level for x in image_verdicts(result)[1:] if x.topic == topic]


def test_good_images_pass_and_the_overall_verdict_comes_first() -> None:
    verdicts = image_verdicts(make_result())
    assert verdicts[0].topic == "overall" and verdicts[0].level == OK
    assert "separate question" in verdicts[0].message  # a pass is not a claim of a gain
    assert not [x for x in verdicts if x.level in (UNUSABLE, WARNING)]


@pytest.mark.parametrize(("pa", "unusable"), [(0.40, True), (0.50, True), (0.52, False)])
def test_pa_at_or_below_chance_is_unusable(pa: float, unusable: bool) -> None:
    result = make_result(pa=pa, per_class_pa=(pa, pa))
    assert (UNUSABLE in levels(result, "class fidelity")) == unusable
    assert (image_verdicts(result)[0].level == UNUSABLE) == unusable
    if unusable:
        assert "chance (0.500 for 2 classes)" in image_verdicts(result)[1].message


def test_chance_depends_on_the_number_of_classes() -> None:
    result = make_result(pa=0.4, per_class_pa=(0.4, 0.4))
    result["classes"] = ["a", "b", "c"]  # chance 0.333: 0.4 is above it
    assert UNUSABLE not in levels(result, "class fidelity")


def test_a_class_never_recognised_is_named() -> None:
    verdicts = image_verdicts(make_result(pa=0.45, per_class_pa=(0.9, 0.0)))
    never = [x for x in verdicts if "never recognised" in x.message]
    assert len(never) == 1 and never[0].level == UNUSABLE and "Class b" in never[0].message


def test_pa_far_below_the_real_accuracy_is_a_warning() -> None:
    assert levels(make_result(pa=0.70), "class fidelity") == [WARNING]  # 0.95 - 0.15 = 0.80
    assert levels(make_result(pa=0.85), "class fidelity") == [OK]


@pytest.mark.parametrize(
    ("precision", "recall", "topic", "unusable"),
    [
        (0.02, 0.9, "realism", True),
        (0.06, 0.9, "realism", False),
        (0.9, 0.0, "variety", True),
        (0.9, 0.02, "variety", False),
    ],
)
def test_precision_near_zero_or_recall_zero_is_unusable(precision, recall, topic, unusable):
    result = make_result(precision={"inception": precision}, recall={"inception": recall})
    assert (UNUSABLE in levels(result, topic)) == unusable
    assert (image_verdicts(result)[0].level == UNUSABLE) == unusable


def test_zero_copy_rate_on_failed_images_is_not_a_pass() -> None:
    """Pure noise is far from every training image: its copy rate of 0 must not read as good."""
    noise = make_result(
        pa=0.5, per_class_pa=(1.0, 0.0), precision={"inception": 0.0, "domain": 0.0},
        recall={"inception": 0.0, "domain": 0.0}, copy={"pixel": 0.0, "domain": 0.0},
    )  # fmt: skip
    copies = [x for x in image_verdicts(noise) if x.topic == "copies"]
    assert [x.level for x in copies] == [NOTE]
    assert "no credit" in copies[0].message
    good = [x for x in image_verdicts(make_result(copy={"domain": 0.0})) if x.topic == "copies"]
    assert [x.level for x in good] == [OK]


def test_high_pixel_and_low_feature_copy_rate_reads_as_blur_not_copies() -> None:
    """The phantom demo's case: pixel 0.95, domain 0.00, noise ignored. No message may call
    the images near-copies of training images while another calls them blur."""
    result = make_result(copy={"pixel": 0.95, "domain": 0.0}, diversity=0.05)
    verdicts = image_verdicts(result)
    copies = [x for x in verdicts if x.topic == "copies"]
    assert len(copies) == 1 and "over-smoothing, not copying" in copies[0].message
    assert not any("near-cop" in x.message for x in verdicts)
    noise = [x for x in verdicts if x.topic == "noise"]
    assert [x.level for x in noise] == [WARNING] and "barely uses its noise" in noise[0].message
    assert "--noise-scale" in noise[0].next_step


@pytest.mark.parametrize(("rate", "warned"), [(0.19, False), (0.20, True), (0.9, True)])
def test_high_copy_rate_is_near_copies(rate: float, warned: bool) -> None:
    result = make_result(copy={"pixel": rate, "domain": rate})
    copies = [x for x in image_verdicts(result) if x.topic == "copies"]
    assert (copies[0].level == WARNING) == warned
    assert ("near-copies" in copies[0].message) == warned


@pytest.mark.parametrize(("closest", "level"), [(0.0, WARNING), (0.4, NOTE)])
def test_a_copy_threshold_of_zero_is_not_read_as_no_copying(closest: float, level: str) -> None:
    """Every real image that sets the threshold has an identical twin: the threshold is 0, no
    image is closer than 0, and a copy rate of 0 read "no sign of copying", exact copies
    (distance 0) included."""
    result = make_result(copy={"pixel": 0.0, "domain": 0.0})
    for audit in result["memorization"].values():
        audit.update(threshold=0.0, synthetic_to_train={"min": closest})
    copies = [x for x in image_verdicts(result) if x.topic == "copies"]
    assert [x.level for x in copies] == [level]
    assert "cannot be read" in copies[0].message and "no sign" not in copies[0].message
    assert ("ARE exact copies" in copies[0].message) == (closest == 0.0)
    assert image_verdicts(result)[0].level == (WARNING if closest == 0.0 else OK)


@pytest.mark.parametrize(("ratio", "level"), [(0.03, WARNING), (0.099, WARNING), (0.10, OK)])
def test_low_noise_diversity_is_flagged(ratio: float, level: str) -> None:
    assert levels(make_result(diversity=ratio), "noise") == [level]


def test_no_noise_verdict_without_the_measurement() -> None:
    assert levels(make_result(diversity=None), "noise") == []


@pytest.mark.parametrize(
    ("majority", "classes", "threshold"),
    [(0.5, 2, 0.75), (0.73, 2, 0.78), (0.1, 10, 0.55), (0.67, 7, 0.72), (0.98, 2, 0.99)],
)
def test_trust_threshold(majority: float, classes: int, threshold: float) -> None:
    assert trust_threshold(majority, classes) == pytest.approx(threshold)


def test_an_untrusted_domain_classifier_is_flagged_and_not_used_to_judge() -> None:
    """Accuracy 0.74 where the majority class is 0.73 of the test set: PA at chance then says
    nothing about the images, so it must not decide the verdict."""
    result = make_result(
        pa=0.5, per_class_pa=(1.0, 0.0), domain_accuracy=0.74, test_counts=(73, 27),
        precision={"domain": 0.0},
    )  # fmt: skip
    verdicts = image_verdicts(result)
    trust = [x for x in verdicts if x.topic == "domain classifier"]
    assert len(trust) == 1 and trust[0].level == WARNING
    assert "0.740" in trust[0].message and "0.730" in trust[0].message
    assert not [x for x in verdicts if x.level == UNUSABLE]
    assert "NOT RELIABLE" in domain_note(result)
    trusted = make_result(domain_accuracy=0.80, test_counts=(73, 27))
    assert "NOT RELIABLE" not in domain_note(trusted)
    assert not [x for x in image_verdicts(trusted) if x.topic == "domain classifier"]


def test_old_results_rebuild_the_trust_check_from_pa() -> None:
    result = make_result(domain_accuracy=0.74, test_counts=(73, 27))
    del result["domain_classifier"]
    assert "real test accuracy 0.740" in domain_note(result)
    assert [x for x in image_verdicts(result) if x.topic == "domain classifier"]


@pytest.mark.parametrize(("inception", "domain", "trust"), [(0.06, 0.98, "Inception"),
                                                            (0.95, 0.40, "domain")])  # fmt: skip
def test_disagreeing_precisions_say_which_to_trust(inception, domain, trust) -> None:
    result = make_result(precision={"inception": inception, "domain": domain})
    notes = [x for x in image_verdicts(result) if x.topic == "which precision"]
    assert len(notes) == 1 and f"Trust the {trust} number" in notes[0].message
    agree = make_result(precision={"inception": 0.8, "domain": 0.9})
    assert not [x for x in image_verdicts(agree) if x.topic == "which precision"]


def test_nothing_to_judge_fidelity_with_is_said() -> None:
    result = make_result(domain_accuracy=0.6)  # untrusted
    del result["features"]["inception"]
    verdicts = image_verdicts(result)
    assert verdicts[0].level == WARNING
    assert any("Nothing here can tell" in x.message for x in verdicts)
    copies = [x for x in verdicts if x.topic == "copies"]
    assert copies[0].level == NOTE  # a low copy rate cannot be credited either
    assert "pixel" in copies[0].message  # the untrusted domain audit is not used


def test_terminal_lines_give_each_next_step_once() -> None:
    result = make_result(pa=0.5, per_class_pa=(1.0, 0.0), precision={"inception": 0.0})
    lines = verdict_lines(image_verdicts(result))
    assert lines[0].startswith("UNUSABLE (overall)")
    assert sum("train longer" in line for line in lines) == 1
    assert sum("--filter-pool 3" in line for line in lines) == 1
    steps = {x.topic: x.next_step for x in image_verdicts(result)[1:4]}
    assert steps["class fidelity"] == v.fidelity_next_step()  # the filter first, then longer
    assert v.LONGER in steps["class fidelity"] and steps["realism"] == v.LONGER


def test_the_class_fidelity_step_quotes_the_evidence_file() -> None:
    from gaunet import evidence

    step = v.fidelity_next_step()
    assert evidence.pa_range("unfiltered") in step and evidence.pa_range("filtered") in step
    assert f"on {evidence.evidence()['filter_pa']['runs']} BreastMNIST" in step
    # training longer did raise PA (step 1,000 -> 5,352), less than the filter: the step says so
    early = evidence.evidence()["filter_pa_step1000"]
    assert early["pa_unfiltered"]["high"] < evidence.evidence()["filter_pa"]["pa_filtered"]["high"]
    assert f"from {evidence.pa_range('unfiltered', 'filter_pa_step1000')} at epoch 934" in step
    assert "had not" not in step


@pytest.mark.parametrize(
    ("per_class", "max_images", "warned", "capped"),
    [
        ({"a": 50, "b": 50}, None, False, False),
        ({"a": 50, "b": 0}, None, True, False),
        ({"a": 0, "b": 50}, 40, True, True),
        ({"a": 0, "b": 0}, None, False, False),  # nothing at all: other checks say so
    ],
)
def test_a_class_without_synthetic_images_is_a_warning(per_class, max_images, warned, capped):
    result = make_result()
    result["samples"].update(per_class_synthetic=per_class, max_images=max_images)
    verdicts = image_verdicts(result)
    classes = [x for x in verdicts if x.topic == "classes"]
    assert bool(classes) is warned
    if warned:
        missing = next(name for name, n in per_class.items() if not n)
        assert classes[0].level == WARNING and f"class {missing} (of 2" in classes[0].message
        assert ("--max-images" in classes[0].next_step) is capped
        assert verdicts[0].level == WARNING and "classes" in verdicts[0].message
    else:
        assert verdicts[0].level == OK


@pytest.mark.parametrize("split", ["val", "test"])
def test_the_realism_note_names_the_split_prdc_compared_with(split: str) -> None:
    """With `--split val` PRDC's real images are the val images: the note said "test"."""
    result = make_result()
    result["reference_split"] = split
    notes = [x for x in image_verdicts(result) if x.topic == "realism"]
    assert notes and all(f"the real {split} images" in x.message for x in notes)


@pytest.mark.parametrize(("synthetic", "blamed"), [(40, True), (12, False)])
def test_a_missing_class_blames_max_images_only_where_it_took_a_sample(synthetic, blamed):
    """--max-images 40 over a 12-image set sampled nothing: the hint named it anyway."""
    from gaunet.metrics.verdict_types import missing_classes

    samples = {"max_images": 40, "per_class_synthetic": {"a": 0, "b": synthetic}}
    (verdict,) = missing_classes({"samples": samples})
    assert ("--max-images" in verdict.next_step) == blamed
