"""Plain-language verdicts on a set of synthetic images, from one `evaluate` result.

One function, `image_verdicts(result)`, used by `gaunet evaluate` (terminal, JSON, HTML) and by
the demo report, so the two never disagree. The first verdict is the overall one; the others
each cover one question (is the domain classifier good enough to judge? are the images
recognisable as their class? do they look real? do they cover the real images? are they
copies? does the generator use its noise?). Each has a level, its numbers and what to do next.
Thresholds are the constants below (docs/metrics.md, "Verdicts"). With one real class, class
fidelity is not applicable: one NOTE says why, and no verdict rests on PA or the classifier.
"""

from __future__ import annotations

from typing import Any

from gaunet.evidence import evidence, pa_range
from gaunet.metrics.domain_trust import domain_trust
from gaunet.metrics.identical import identical_verdicts
from gaunet.metrics.verdict_types import (
    NOTE,
    OK,
    UNUSABLE,
    WARNING,
    Verdict,
    missing_classes,
    unreadable_copy_rate,
    verdict_lines,
)

__all__ = ["NOTE", "OK", "UNUSABLE", "WARNING", "Verdict", "image_verdicts", "verdict_lines"]

# PA (class fidelity)
PA_GAP = 0.15  # warning when PA is this far below the classifier's real test accuracy
# precision / recall
PRECISION_FLOOR = 0.05  # below: almost no synthetic image looks like any real image
RECALL_FLOOR = 0.01  # below: the synthetic images resemble none of the real images
PRECISION_DISAGREE = 0.30  # Inception vs domain precision differing by this much: explained
# memorization audit
COPY_HIGH = 0.20  # an independent real sample scores about 0.05
PIXEL_BLUR = 0.50  # pixel copy rate this high with a low feature copy rate: blur, not copies
# noise diversity
DIVERSITY_LOW = 0.10  # draws differ by under a tenth of what distinct real images differ

LONGER = (
    "train longer (a larger --minutes or --steps: minutes of cpu-tiny training are far from "
    "the paper's), ideally on a GPU with the paper preset (docs/guide.md), then evaluate again"
)
SEEDS = (
    "judge any gain with `gaunet benchmark --arms none,classic,gaunet,gaunet+classic,copies,"
    "copies+classic --seeds 10` against plain copies of the real images (with few seeds only "
    "large gains show: its summary.md gives the smallest gain each row could detect)"
)


def fidelity_next_step() -> str:
    """Images that do not look like their class: the filter first (measured, evidence.yaml)."""
    return (
        "keep the images a classifier is surest of (`gaunet generate --filter-pool 3`: of 3x "
        "the images, the third a CNN trained on the run's images finds most like their class); "
        f"on {evidence()['filter_pa']['runs']} BreastMNIST generators trained 5,000 epochs it "
        f"raised PA from {pa_range('unfiltered')} to {pa_range('filtered')}, more than their "
        f"last four fifths of training had (from {pa_range('unfiltered', 'filter_pa_step1000')} "
        f"at epoch 934). Evaluate the filtered folder again; or {LONGER}"
    )


def _prdc(result: dict[str, Any], name: str) -> dict[str, float] | None:
    entry = result.get("features", {}).get(name) or {}
    prdc = (entry.get("overall") or {}).get("PRDC") if entry.get("available") else None
    return {k: v["value"] for k, v in prdc.items()} if prdc else None


def _space(name: str) -> str:
    return {"inception": "Inception", "efficientnet": "EfficientNet"}.get(name, name) + " features"


def _trust_verdict(check: dict[str, Any] | None) -> Verdict | None:
    if check is None or check["trusted"]:
        return None
    return Verdict(
        WARNING,
        "domain classifier",
        f"The domain classifier is right on only {check['real_test_accuracy']:.3f} of the real "
        f"test images (always answering the largest class gives {check['majority_share']:.3f}; "
        f"trusted from {check['trust_threshold']:.3f}), so FD_domain, the domain precision, "
        "recall, density and coverage, PA and the domain copy rate say little about the images.",
        "give it more --domain-steps or more real training images; until then rely on the "
        "Inception numbers and the pictures",
    )


def not_applicable_reason(result: dict[str, Any]) -> str | None:
    """Why class fidelity is not applicable to this result (one real class), or None. Also for
    results written before `not_applicable` existed, whose PA of 1.000 on one class is no
    measurement."""
    from gaunet.metrics.fidelity import two_class_reason

    reason = (result.get("not_applicable") or {}).get("PA")
    classes = result.get("classes")
    return reason or (two_class_reason(list(classes)) if classes is not None else None)


def _not_applicable_verdict(reason: str) -> Verdict:
    return Verdict(NOTE, "class fidelity", reason[:1].upper() + reason[1:] + ".")


def _fidelity_verdicts(result: dict[str, Any], trusted: bool) -> list[Verdict]:
    pa = result.get("PA")
    if not pa or not trusted:
        return []
    classes = result.get("classes") or list(pa.get("per_class", {}))
    chance = 1.0 / max(1, len(classes))
    check = domain_trust(result)
    ceiling = check["real_test_accuracy"] if check else pa["real_reference_accuracy"]["value"]
    out = []
    if classes and pa["value"] <= chance + 1e-9:
        out.append(
            Verdict(
                UNUSABLE,
                "class fidelity",
                f"PA {pa['value']:.3f} is at or below chance ({chance:.3f} for {len(classes)} "
                f"classes): a classifier that recognises {ceiling:.3f} of real test images does "
                "not recognise the class these images were generated for.",
                fidelity_next_step(),
            )
        )
    never = [c for c, v in pa.get("per_class", {}).items() if v.get("n") and v["value"] == 0.0]
    if never:
        out.append(
            Verdict(
                UNUSABLE,
                "class fidelity",
                f"Class {', '.join(never)} is never recognised: none of its synthetic images is "
                "classified as that class, so they would teach a classifier the wrong label.",
                fidelity_next_step(),
            )
        )
    if not out and pa["value"] < ceiling - PA_GAP:
        out.append(
            Verdict(
                WARNING,
                "class fidelity",
                f"PA {pa['value']:.3f} is well below the {ceiling:.3f} the same classifier "
                f"reaches on real test images: {1 - pa['value']:.0%} of the images do not look "
                "like their class.",
                fidelity_next_step(),
            )
        )
    if not out:
        out.append(
            Verdict(
                OK,
                "class fidelity",
                f"PA {pa['value']:.3f} against {ceiling:.3f} on real test images: the images "
                "are recognised as the class they were generated for.",
            )
        )
    return out


def _realism_verdicts(result: dict[str, Any], trusted: bool) -> list[Verdict]:
    spaces = [n for n in ("inception", "efficientnet") if _prdc(result, n)]
    if trusted and _prdc(result, "domain"):
        spaces.append("domain")
    out = [v for name in spaces for v in _floor_verdicts(name, _prdc(result, name))]
    if spaces and not out:
        shown = "; ".join(
            f"{_space(n)}: precision {_prdc(result, n)['precision']:.2f}, "
            f"recall {_prdc(result, n)['recall']:.2f}"
            for n in spaces
        )
        split = result.get("reference_split") or "test"  # PRDC's real images: `--split`
        text = f"{shown} (1 = as realistic / as varied as the real {split} images)."
        out.append(Verdict(NOTE, "realism", text))
    return out + _precision_disagreement(result, trusted)


def _floor_verdicts(name: str, values: dict[str, float]) -> list[Verdict]:
    space = _space(name)
    floors = [
        (
            values["precision"] < PRECISION_FLOOR,
            "realism",
            f"Precision ({space}) {values['precision']:.2f}: almost no synthetic image lies "
            "among the real images.",
        ),
        (
            values["recall"] < RECALL_FLOOR,
            "variety",
            f"Recall ({space}) {values['recall']:.2f}: the synthetic images resemble none of "
            "the real images, so they cover none of the real variety.",
        ),
    ]
    return [Verdict(UNUSABLE, topic, text, LONGER) for below, topic, text in floors if below]


def _precision_disagreement(result: dict[str, Any], trusted: bool) -> list[Verdict]:
    inception, domain = _prdc(result, "inception"), _prdc(result, "domain")
    if not (inception and domain and trusted):
        return []
    p_inc, p_dom = inception["precision"], domain["precision"]
    if abs(p_inc - p_dom) < PRECISION_DISAGREE - 1e-9:  # 0.70 vs 0.40 is 0.2999...9 in floats
        return []
    if p_inc < p_dom:
        why = (
            f"Inception precision {p_inc:.2f} vs domain precision {p_dom:.2f}: the "
            "images keep what separates the classes here (shape, intensity), which is "
            "all the small domain classifier looks at, but their texture (blur, noise, "
            "artefacts) is unlike real images, which Inception's features notice. Trust "
            "the Inception number for realism (blurred, noised real images: 0.06 vs 0.98, "
            "docs/metrics.md)."
        )
    else:
        why = (
            f"Domain precision {p_dom:.2f} vs Inception precision {p_inc:.2f}: the "
            "images pass as generic pictures of this kind to a network trained on "
            "photographs, but lack what separates the classes in this dataset. Trust "
            "the domain number: that is what a classifier trained on them would learn."
        )
    return [Verdict(NOTE, "which precision", why)]


def _copy_verdicts(result: dict[str, Any], failed: bool, trusted: bool) -> list[Verdict]:
    audits = result.get("memorization") or {}
    features = [s for s in audits if s != "pixel" and (trusted or s != "domain")]
    pixel = audits.get("pixel", {}).get("copy_rate")
    feature = audits[features[0]]["copy_rate"] if features else None
    space = features[0] if features else "pixel"
    rate = feature if feature is not None else pixel
    if rate is None or (unreadable := unreadable_copy_rate(audits.get(space, {}), space)):
        return [] if rate is None else unreadable  # no audit, or one whose threshold is 0
    if pixel is not None and feature is not None and pixel >= PIXEL_BLUR and feature < COPY_HIGH:
        return [
            Verdict(
                WARNING,
                "copies",
                f"Copy rate {pixel:.2f} in pixel space but {feature:.2f} in {space} features: "
                "this is over-smoothing, not copying. Blurry images sit closer, pixel by pixel, "
                "to a noisy training image than another noisy real image does; in features they "
                "are not copies. Check the closest pairs.",
                LONGER,
            )
        ]
    if rate >= COPY_HIGH:
        caveat = " (Pixel space only: over-smoothing raises it too.)" if space == "pixel" else ""
        return [
            Verdict(
                WARNING,
                "copies",
                f"Copy rate ({space}) {rate:.2f}: that share of the images is closer to a "
                "training image than 95 % of real images are (test images, or the training images "
                "when too few test ones differ from them; about 0.05 for unseen real images). "
                "They are near-copies: they add little beyond the training "
                f"images and could reveal them if shared.{caveat}",
                "look at the closest pairs; `gaunet generate --max-copy-rate` drops near-copies; "
                "more noise: --set decoder_noise_stages=2 (docs/model.md)",
            )
        ]
    if failed:
        return [
            Verdict(
                NOTE,
                "copies",
                f"Copy rate ({space}) {rate:.2f}: no near-copies, but that is no credit here. "
                "Images that fail the checks above, or cannot be checked (noise, say), are far "
                "from every training image too.",
            )
        ]
    return [
        Verdict(
            OK,
            "copies",
            f"Copy rate ({space}) {rate:.2f}: no sign of copying (an independent real sample "
            "scores about 0.05).",
        )
    ]


def _diversity_verdicts(result: dict[str, Any]) -> list[Verdict]:
    d = result.get("noise_diversity")
    if not d or d.get("ratio") is None or d["ratio"] != d["ratio"]:  # absent or NaN
        return []
    if d["ratio"] < DIVERSITY_LOW:
        return [
            Verdict(
                WARNING,
                "noise",
                f"Noise diversity {d['ratio']:.3f}: images drawn with different noise from one "
                f"training image differ by {d['within_source']:.4f}, where distinct real images "
                f"differ by {d['real_pairs']:.4f}. The generator barely uses its noise, so each "
                "training image yields essentially one new image, however many you generate.",
                "train longer; --set decoder_noise_stages=2 and --set diversity_lambda=... "
                "(docs/model.md). --noise-scale S at generation spreads the draws without "
                "retraining, but on BreastMNIST it also lowered class fidelity and the "
                "classifier's AUC (docs/augmentation.md)",
            )
        ]
    return [
        Verdict(
            OK,
            "noise",
            f"Noise diversity {d['ratio']:.3f}: the output changes with the noise.",
        )
    ]


def _nothing_judged(result: dict[str, Any], one_class: str | None) -> Verdict:
    """The warning when no verdict could judge the images, saying truly why: an ImageNet
    extractor that ran but gave no precision/recall had too few images for it."""
    features = result.get("features") or {}
    ran = [n for n in ("inception", "efficientnet") if (features.get(n) or {}).get("available")]
    if ran:
        missing = (
            f"{_space(ran[0])} gave no precision or recall (they need more images in the real "
            "reference split and in the synthetic set than the neighbourhood size --k)"
        )
        next_step = "evaluate with more real and synthetic images"
    else:
        missing = "there are no Inception or EfficientNet features"
        next_step = "evaluate with --features inception" + ("" if one_class else ",domain")
    if one_class:
        text = (
            "Nothing here can tell whether the images look real: class fidelity needs two "
            f"real classes, and {missing}."
        )
        return Verdict(WARNING, "realism", text, next_step)
    text = (
        "Nothing here can tell whether the images look like their class: no trusted domain "
        f"classifier, and {missing}."
    )
    return Verdict(WARNING, "class fidelity", text, next_step)


def _fidelity_unmeasured() -> Verdict:
    """No PA (domain not in --features): an OK would pass images never checked for class."""
    text = (
        "Class fidelity was not measured (no domain classifier: domain is not in --features), "
        "so nothing here says whether the images look like the class they were generated for."
    )
    return Verdict(WARNING, "class fidelity", text, "evaluate with --features inception,domain")


def image_verdicts(result: dict[str, Any]) -> list[Verdict]:
    """The overall verdict first, then one per question (see the module docstring)."""
    one_class = not_applicable_reason(result)
    # one real class: the domain classifier learnt nothing, so no number resting on it is used
    check = None if one_class else domain_trust(result)
    trusted = not one_class and (check is None or check["trusted"])
    detail: list[Verdict] = []
    trust = _trust_verdict(check)
    if trust:
        detail.append(trust)
    detail += [] if one_class else _fidelity_verdicts(result, trusted)
    detail += _realism_verdicts(result, trusted)
    judged = any(v.topic in ("class fidelity", "realism", "variety") for v in detail)
    if one_class:
        detail.insert(0, _not_applicable_verdict(one_class))
    if not judged:
        detail.append(_nothing_judged(result, one_class))
    elif not one_class and not result.get("PA"):  # realism judged, class fidelity never
        detail.append(_fidelity_unmeasured())
    failed = not judged or any(v.level == UNUSABLE for v in detail)
    detail += _copy_verdicts(result, failed, trusted)
    detail = (
        missing_classes(result) + identical_verdicts(result) + detail + _diversity_verdicts(result)
    )
    return [overall(detail), *detail]


def overall(detail: list[Verdict]) -> Verdict:
    """One sentence over the detailed verdicts: the worst level decides."""
    bad = [v for v in detail if v.level == UNUSABLE]
    warned = [v for v in detail if v.level == WARNING]
    if bad:
        topics = ", ".join(dict.fromkeys(v.topic for v in bad))
        return Verdict(
            UNUSABLE,
            "overall",
            f"These images are not usable as training images yet ({topics}).",
            f"{next((v.next_step for v in bad if v.next_step), LONGER)}; once they pass, {SEEDS}.",
        )
    if warned:
        topics = ", ".join(dict.fromkeys(v.topic for v in warned))
        return Verdict(
            WARNING,
            "overall",
            f"Usable only with caution ({topics}): see below.",
            f"fix what is flagged below, then {SEEDS}.",
        )
    return Verdict(
        OK,
        "overall",
        "No problem found in the images themselves. Whether they help a classifier is a "
        "separate question.",
        SEEDS + " (docs/downstream.md)",
    )


def verdicts_json(result: dict[str, Any]) -> list[dict[str, str]]:
    return [v.as_dict() for v in image_verdicts(result)]
