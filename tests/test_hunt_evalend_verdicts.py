"""Verdicts of an evaluation whose class fidelity was never measured (domain not among
--features): good Inception numbers alone passed the images as "ok"."""

from __future__ import annotations

from test_verdict import make_result

from gaunet.metrics.verdict import OK, WARNING, image_verdicts


def _without_domain() -> dict:
    result = make_result()
    for key in ("PA", "domain_classifier"):
        del result[key]
    del result["features"]["domain"]
    del result["memorization"]["domain"]
    return result


def test_no_pa_is_no_pass() -> None:
    verdicts = image_verdicts(_without_domain())
    assert verdicts[0].level == WARNING and "class fidelity" in verdicts[0].message
    unmeasured = [v for v in verdicts if v.topic == "class fidelity"]
    assert len(unmeasured) == 1 and "not measured" in unmeasured[0].message
    assert "--features inception,domain" in unmeasured[0].next_step


def test_measured_pa_still_passes() -> None:
    verdicts = image_verdicts(make_result())
    assert verdicts[0].level == OK
    assert not [v for v in verdicts if "not measured" in v.message]


def test_one_real_class_keeps_its_note_not_this_warning() -> None:
    result = _without_domain()
    result["classes"] = ["a"]
    assert not [v for v in image_verdicts(result) if "not measured" in v.message]


def test_precisions_exactly_the_documented_gap_apart_get_the_note() -> None:
    """docs/metrics.md: a note when they "differ by >= 0.30"; 0.70 - 0.40 is 0.2999... in
    floating point, so 70 and 40 of 100 images got none."""
    result = make_result(precision={"inception": 0.40, "domain": 0.70})
    assert [v for v in image_verdicts(result) if v.topic == "which precision"]
