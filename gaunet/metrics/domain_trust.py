"""Whether the domain classifier may judge: every number that rests on it (FD_domain, the
domain precision/recall, PA, the domain copy rate) is only as good as its accuracy on real test
images. `domain_classifier_check` is the `domain_classifier` entry of an evaluate result;
`domain_note` is what is printed beside those numbers (docs/metrics.md, "Verdicts").
"""

from __future__ import annotations

from typing import Any

# Domain classifier: trusted when its accuracy on real test images is at least
# max(majority share + TRUST_MARGIN, halfway from chance 1/K to 1), capped at TRUST_CAP.
TRUST_MARGIN = 0.05
TRUST_CAP = 0.99


def trust_threshold(majority_share: float, num_classes: int) -> float:
    """Real test accuracy the domain classifier needs before its numbers are trusted."""
    halfway = (1.0 + 1.0 / max(1, num_classes)) / 2.0
    return min(TRUST_CAP, max(majority_share + TRUST_MARGIN, halfway))


def domain_classifier_check(
    accuracy: float, test_counts: dict[str, int], num_classes: int
) -> dict[str, Any]:
    """The `domain_classifier` entry of an evaluate result: accuracy, baseline, trusted."""
    total = sum(test_counts.values())
    majority = max(test_counts.values()) / total if total else 1.0
    threshold = trust_threshold(majority, num_classes)
    return {
        "real_test_accuracy": float(accuracy),
        "n_test": int(total),
        "majority_share": float(majority),
        "trust_threshold": float(threshold),
        # (0.8 + 0.05 is 0.8500000000000001: 17 of 20 right was untrusted at a 0.85 threshold)
        "trusted": bool(accuracy >= threshold - 1e-9),
        "rule": "trusted when real test accuracy >= min(0.99, max(majority share + 0.05, "
        "(1 + 1/classes) / 2))",
    }


def domain_trust(result: dict[str, Any]) -> dict[str, Any] | None:
    """The domain classifier's check; rebuilt from PA for results written before it existed."""
    if "domain_classifier" in result:
        return result["domain_classifier"]
    pa = result.get("PA")
    if not pa or result.get("reference_split", "test") != "test":
        return None
    counts = result.get("samples", {}).get("per_class_reference") or {}
    if not counts:
        return None
    accuracy = pa["real_reference_accuracy"]["value"]
    return domain_classifier_check(accuracy, counts, len(result.get("classes", counts)))


def domain_note(result: dict[str, Any]) -> str:
    """What to print beside every number that rests on the domain classifier."""
    check = domain_trust(result)
    if check is None:
        return ""
    text = (
        f"domain classifier: real test accuracy {check['real_test_accuracy']:.3f}, "
        f"trusted from {check['trust_threshold']:.3f}"
    )
    return text if check["trusted"] else f"{text}: NOT RELIABLE"
