"""gaunet.class_filter: which candidates a pool keeps, what filter.json says of them, and which
pool settings are refused (the generate and benchmark commands both use it)."""

from __future__ import annotations

import numpy as np
import pytest

from gaunet.class_filter import (
    StreamingChoice,
    check_filter_pool,
    choose,
    confidence_report,
    keep_most_confident,
)
from gaunet.errors import GaunetError

# five candidates: class 0 at rows 0-2, class 1 at rows 3-4; p(intended class) 0.2 0.9 0.6 | 0.7 0.4
PROBABILITIES = np.array([[0.2, 0.8], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.6, 0.4]])
LABELS = np.array([0, 0, 0, 1, 1])


@pytest.mark.parametrize(
    ("wanted", "kept"),
    [([1, 1], [1, 3]), ([2, 1], [1, 2, 3]), ([3, 2], [0, 1, 2, 3, 4]), ([0, 1], [3])],
)
def test_the_most_confident_of_each_class_in_candidate_order(wanted, kept):
    assert keep_most_confident(PROBABILITIES, LABELS, np.array(wanted)).tolist() == kept


def test_the_report_counts_and_averages_per_class():
    report = confidence_report(PROBABILITIES, LABELS, np.array([1, 3]), ["benign", "malignant"])
    assert (report["candidates"], report["kept"]) == (5, 2)
    assert report["mean_confidence_all"] == pytest.approx((0.2 + 0.9 + 0.6 + 0.7 + 0.4) / 5)
    assert report["mean_confidence_kept"] == pytest.approx(0.8)
    benign = report["per_class"]["benign"]
    assert (benign["candidates"], benign["kept"]) == (3, 1)
    assert benign["mean_confidence_all"] == pytest.approx(1.7 / 3)
    assert benign["mean_confidence_kept"] == pytest.approx(0.9)


def test_a_class_with_nothing_kept_reports_none():
    report = confidence_report(PROBABILITIES, LABELS, np.array([1]), ["a", "b"])
    assert report["per_class"]["b"]["kept"] == 0
    assert report["per_class"]["b"]["mean_confidence_kept"] is None


@pytest.mark.parametrize(("pool", "rate"), [(1, None), (1, 0.5), (3, None), (3, 0.0), (3, 0)])
def test_allowed_pools(pool, rate):
    check_filter_pool(pool, rate)  # raises on refusal


@pytest.mark.parametrize(
    ("pool", "rate", "message"),
    [(0, None, "whole number"), (-2, None, "whole number"), (1.5, None, "whole number"),
     (False, None, "whole number"), (2, 0.1, "--max-copy-rate 0")],
)  # fmt: skip
def test_refused_pools(pool, rate, message):
    with pytest.raises(GaunetError, match=message):
        check_filter_pool(pool, rate)


def _streamed(probabilities, labels, wanted, batch):
    """StreamingChoice over candidates whose image encodes their row, scored by a lookup; the
    most candidates it held at once, and the batches it scored."""
    batches = []

    def score(images):
        rows = images[:, 0, 0, 0].astype(np.int64) * 256 + images[:, 0, 0, 1]
        batches.append(rows.tolist())
        return probabilities[rows]

    names = [f"class{c}" for c in range(probabilities.shape[1])]
    stream = StreamingChoice(score, np.asarray(wanted), names, batch)
    most = 0
    for row, label in enumerate(labels):
        image = np.array([[[[row // 256, row % 256]]]], dtype=np.uint8)[0]
        stream.add(int(label), image, row)
        most = max(most, stream.held)
    kept, report = stream.finish()
    return kept, report, most, batches


@pytest.mark.parametrize("batch", [1, 2, 7, 64, 1000])
@pytest.mark.parametrize("wanted", [[3, 5, 0], [40, 1, 17], [200, 200, 200]])
def test_streaming_keeps_what_the_whole_pool_keeps(batch, wanted):
    """Scored a batch at a time, the kept candidates and the report equal `choose` on the whole
    pool, ties included (confidences on a coarse grid), and memory holds the kept candidates and
    one batch, not the pool."""
    rng = np.random.default_rng(batch * 1000 + sum(wanted))
    labels = np.sort(rng.integers(0, 3, 600))  # class by class, as generation draws them
    probabilities = rng.integers(0, 5, (600, 3)).astype(float) + 0.01
    probabilities /= probabilities.sum(1, keepdims=True)
    names = ["class0", "class1", "class2"]

    expected, expected_report = choose(probabilities, labels, np.array(wanted), names)
    kept, report, most, batches = _streamed(probabilities, labels, wanted, batch)

    assert kept == expected.tolist()
    assert report == expected_report
    assert most <= sum(wanted) + batch
    assert [rows[0] for rows in batches] == list(range(0, 600, batch))  # fixed, pool-wide batches


def test_streaming_with_no_candidates_keeps_nothing():
    stream = StreamingChoice(
        lambda images: np.zeros((len(images), 2)), np.array([2, 2]), ["a", "b"], 4
    )
    kept, report = stream.finish()
    assert kept == [] and (report["candidates"], report["kept"]) == (0, 0)


@pytest.mark.parametrize(
    ("kept", "counts", "explained"),
    [
        ([(0, "a"), (0, "b"), (1, "c")], {"x": 2, "y": 1}, False),  # one image per source
        ([(0, "a"), (0, "a"), (0, "a"), (1, "c")], {"x": 1, "y": 1}, True),  # 3 from one source
    ],
)
def test_conditioning_images_counts_the_sources_behind_the_kept(kept, counts, explained):
    from gaunet.class_filter import conditioning_images, conditioning_line

    assert conditioning_images(kept, ["x", "y"]) == counts
    per_class = {"x": {"kept": sum(c == 0 for c, _ in kept)}, "y": {"kept": 1}}
    line = conditioning_line(counts, per_class)
    assert f"x {counts['x']} for {per_class['x']['kept']}" in line
    assert ("the filter chose which training images" in line) is explained
