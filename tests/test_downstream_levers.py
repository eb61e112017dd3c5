"""Levers for using synthetic images: the combined arm, confidence filtering, loss weights,
the detectable gain and the SVM's selection criterion."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from downstream_helpers import FakeGenerators, one_quiet_thread

from gaunet.class_filter import keep_most_confident
from gaunet.data import ImageSet, assign_split, load_source
from gaunet.downstream import cells as cells_module
from gaunet.downstream.arms import parse_arms
from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark
from gaunet.downstream.classifiers import SvmClassifier, balanced_accuracy
from gaunet.downstream.fit import FitSettings, fit_network
from gaunet.downstream.generator_arms import GeneratorArms
from gaunet.downstream.stats import detectable_gain, paired_difference
from gaunet.downstream.subsets import nested_subsets
from gaunet.errors import GaunetError


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    with one_quiet_thread(monkeypatch):
        yield


def _subset(fraction: float = 0.5) -> ImageSet:
    data = assign_split(load_source("phantom:n=24", size=16, channels=1), seed=0)
    train = data.where_split("train")
    subset = train.subset(nested_subsets(train.labels, [fraction])[fraction])
    subset.split = np.full(len(subset), "train")
    return subset


def _spy_fit_network(monkeypatch: pytest.MonkeyPatch) -> list:
    """Record (images, labels, kwargs) of every fit_network call the benchmark makes."""
    fits = []
    real_fit = cells_module.fit_network

    def spy(*args: object, **kwargs: object) -> dict:
        fits.append((args[1].copy(), args[2].copy(), kwargs))
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(cells_module, "fit_network", spy)
    return fits


@pytest.mark.parametrize(
    "spec, model, classic",
    [("gaunet+classic", "gaunet", True), ("cgan+classic", "cgan", True), ("gan", "gan", False)],
)
def test_combined_arm_names(spec: str, model: str, classic: bool) -> None:
    (arm,) = parse_arms([spec])
    assert (arm.kind, arm.model, arm.classic) == ("generator", model, classic)


@pytest.mark.parametrize("bad", ["vae+classic", "classic+classic", "none+classic"])
def test_combined_arm_needs_a_generator(bad: str) -> None:
    with pytest.raises(GaunetError, match="classic"):
        parse_arms([bad])


def test_combined_arm_reuses_the_generator_and_augments_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeGenerators()
    helper = GeneratorArms(tmp_path, train_fn=fake.train, generate_fn=fake.generate)
    fits = _spy_fit_network(monkeypatch)
    settings = BenchmarkSettings(
        data="phantom:n=24",
        classifiers=["resnet18"],
        arms=["none", "classic", "gaunet", "gaunet+classic"],
        fractions=[0.5],
        seeds=2,
        size=16,
        width=0.125,
        fit=FitSettings(epochs=1),
    )
    run_benchmark(settings, tmp_path, arms_helper=helper)
    augmented = [(len(images), kwargs["augment"]) for images, _, kwargs in fits]
    assert len(fake.trained) == 1  # one generator for gaunet and gaunet+classic
    n_real = augmented[0][0]
    # per arm (2 seeds each): none, classic (on the fly), gaunet (+images), gaunet+classic
    assert (
        augmented
        == [(n_real, False)] * 2
        + [(n_real, True)] * 2
        + [(2 * n_real, False)] * 2
        + [(2 * n_real, True)] * 2
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    combined = next(e for e in summary["entries"] if e["arm"] == "gaunet+classic")
    assert combined["gain_vs_classic"]["accuracy"]["n"] == 2
    table = (tmp_path / "summary.md").read_text()
    assert "Combined arms against `classic` alone" in table
    assert "| resnet18 | 0.5 | gaunet+classic |" in table


def test_filter_keeps_the_most_confident_per_class() -> None:
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.95, 0.05]])
    labels = np.array([0, 0, 0, 1, 1])
    kept = keep_most_confident(probabilities, labels, np.array([2, 1]))
    assert kept.tolist() == [0, 2, 3]


def test_filter_scorer_sees_only_the_fraction_subset(tmp_path: Path) -> None:
    subset = _subset()
    fake = FakeGenerators()
    trained_on: list[ImageSet] = []

    def scorer(train: ImageSet):
        trained_on.append(train)
        # a "classifier" that is surest of the darkest images of each class
        return lambda images: np.stack(
            [1 - images.mean((1, 2, 3)) / 255, images.mean((1, 2, 3)) / 255], 1
        )

    helper = GeneratorArms(
        tmp_path, filter_pool=3, train_fn=fake.train, generate_fn=fake.generate, scorer_fn=scorer
    )
    images, labels, manifest = helper.extra_images(parse_arms(["gaunet"])[0], 0.5, subset)
    assert len(trained_on) == 1 and set(trained_on[0].ids) == set(subset.ids)
    assert set(trained_on[0].split) == {"train"}
    counts = np.bincount(subset.labels, minlength=2)
    assert np.bincount(labels, minlength=2).tolist() == counts.tolist()  # ratio 1 after filtering
    report = json.loads((manifest.parent / "filter.json").read_text())
    assert report["candidates"] == 3 * int(counts.max()) * 2 and report["kept"] == len(labels)
    assert report["mean_confidence_kept"] >= report["mean_confidence_all"]


def test_filter_streams_the_pool_and_keeps_what_whole_pool_scoring_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gaunet.class_filter import choose
    from gaunet.downstream.arms import per_class_targets
    from gaunet.downstream.provenance import iter_synthetic, load_synthetic
    from gaunet.metrics.features.domain import DomainExtractor

    monkeypatch.setattr(DomainExtractor, "inference_batch", 7)  # several batches per pool
    subset = _subset()
    batches: list[int] = []
    fake = FakeGenerators()

    def brightest(images: np.ndarray) -> np.ndarray:
        batches.append(len(images))
        p = images.mean((1, 2, 3)) / 255
        return np.stack([p, 1 - p], 1)

    helper = GeneratorArms(
        tmp_path,
        filter_pool=3,
        train_fn=fake.train,
        generate_fn=fake.generate,
        scorer_fn=lambda train: brightest,
    )
    images, labels, manifest = helper.extra_images(parse_arms(["gaunet"])[0], 0.5, subset)
    wanted = per_class_targets(subset.labels, subset.num_classes, 1.0)
    pool, pool_labels = load_synthetic(manifest, 3 * wanted, subset.size, subset.channels)
    kept, report = choose(brightest(pool), pool_labels, wanted, subset.class_names)
    assert max(batches[:-1]) == 7 and sum(batches[:-1]) == len(pool)  # streamed, then whole
    np.testing.assert_array_equal(images, pool[kept])
    np.testing.assert_array_equal(labels, pool_labels[kept])
    written = json.loads((manifest.parent / "filter.json").read_text())
    pool_rows = iter_synthetic(manifest, 3 * wanted, subset.size, subset.channels)
    pool_sources = [(label, source) for label, _, source in pool_rows]
    kept_sources = [pool_sources[i] for i in kept]
    assert written.pop("conditioning_images") == {
        subset.class_names[c]: len({s for label, s in kept_sources if label == c})
        for c in sorted({label for label, _ in kept_sources})
    }
    assert written.pop("kept_candidates") == sorted(kept.tolist())  # read back on a rerun
    assert written.pop("candidates_per_class") == [int(n) for n in 3 * wanted]
    assert {written.pop("manifest_sha256"), written.pop("subset_sha256")} != {None}
    assert written == {"pool": 3, **report}


def test_synthetic_weight_zero_equals_training_without_the_extra_images() -> None:
    subset = _subset(1.0)
    x, y = subset.images, subset.labels
    extra = 255 - x

    def train(images: np.ndarray, labels: np.ndarray, weight: np.ndarray | None) -> torch.Tensor:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 2))
        settings = FitSettings(epochs=2, batch_size=len(images))
        fit_network(model, images, labels, x, y, settings, seed=0, sample_weight=weight)
        return model[1].weight.detach().clone()

    weight = np.concatenate([np.ones(len(x)), np.zeros(len(x))])
    with_zero = train(np.concatenate([x, extra]), np.concatenate([y, y]), weight)
    without = train(x, y, None)
    with_one = train(np.concatenate([x, extra]), np.concatenate([y, y]), None)
    assert torch.allclose(with_zero, without, atol=1e-5)
    assert not torch.allclose(with_one, without, atol=1e-3)
    with pytest.raises(GaunetError, match="one non-negative weight"):
        train(x, y, np.ones(3))


def test_detectable_gain_shrinks_with_seeds_and_is_reported() -> None:
    rng = np.random.default_rng(0)
    spread = rng.normal(0, 0.05, 40)
    assert detectable_gain(spread[:10]) > detectable_gain(spread) > 0
    assert np.isnan(detectable_gain(spread[:1]))
    # 10 seeds, sd 0.05: noncentrality 3.150 (the textbook t_.975 + t_.8 gives 3.145)
    fixed = np.array([0.05, -0.05] * 5) * np.sqrt(9 / 10)
    assert detectable_gain(fixed) == pytest.approx(3.150 * 0.05 / np.sqrt(10), rel=1e-3)
    result = paired_difference(np.array([0.8, 0.7, 0.9]), np.array([0.7, 0.7, 0.8]))
    assert result["mde"] > 0


def test_svm_selection_cannot_be_won_by_the_majority_class() -> None:
    assert balanced_accuracy(np.array([0, 0, 0, 1]), np.array([0, 0, 0, 0])) == 0.5
    rng = np.random.default_rng(0)
    # 90 % majority; the minority is separable in one feature
    y = np.array([0] * 45 + [1] * 5)
    x = rng.normal(0, 1, (50, 4)) + y[:, None] * np.array([4.0, 0, 0, 0])
    val_y = np.array([0] * 18 + [1] * 2)
    val_x = rng.normal(0, 1, (20, 4)) + val_y[:, None] * np.array([4.0, 0, 0, 0])
    svm = SvmClassifier(0)
    info = svm.fit(x, y, val_x, val_y, 2)
    predicted = svm.predict_proba(val_x).argmax(1)
    assert info["best_val_balanced_accuracy"] > 0.5
    assert (predicted == 1).any()  # not the majority-class model


def test_a_run_folder_can_be_combined_with_classic(tmp_path: Path) -> None:
    run = tmp_path / "my run"
    run.mkdir()
    (run / "split.csv").write_text("id,group,label,class,split\n")
    plain, combined = parse_arms([str(run), f"{run}+classic"])
    assert (plain.name, plain.classic) == ("run:my run", False)
    assert (combined.name, combined.kind, combined.run, combined.classic) == (
        "run:my run+classic",
        "run",
        run,
        True,
    )
    assert combined.model == plain.model  # one cache entry for both
    with pytest.raises(GaunetError, match="split.csv"):
        parse_arms([f"{tmp_path}+classic"])


def test_smoothing_softens_only_the_images_given_a_value() -> None:
    from gaunet.downstream.fit import _per_image_loss

    logits = torch.tensor([[4.0, -4.0], [4.0, -4.0]])
    labels = torch.tensor([0, 0])
    hard = _per_image_loss(logits, labels, None)
    soft = _per_image_loss(logits, labels, torch.tensor([0.0, 0.2]))
    assert torch.allclose(soft[0], hard[0])  # a real image (s = 0) keeps its hard target
    # the confident, correct prediction costs more once 10 % of the target sits on class 1
    expected = 0.8 * hard[1] + 0.2 * -torch.log_softmax(logits[1], 0).mean()
    assert torch.allclose(soft[1], expected) and soft[1] > hard[1]


def test_fit_refuses_smoothing_of_one_or_a_wrong_length() -> None:
    subset = _subset(1.0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 2))
    x, y = subset.images, subset.labels
    for bad in (np.full(len(y), 1.0), np.full(3, 0.1)):
        with pytest.raises(GaunetError, match="smoothing"):
            fit_network(model, x, y, x, y, FitSettings(epochs=1), seed=0, smoothing=bad)


@pytest.mark.parametrize("schedule", ["mix", "pretrain"])
def test_schedule_decides_what_each_fit_sees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schedule: str
) -> None:
    fake = FakeGenerators()
    helper = GeneratorArms(tmp_path, train_fn=fake.train, generate_fn=fake.generate)
    recorded = _spy_fit_network(monkeypatch)
    settings = BenchmarkSettings(
        data="phantom:n=24", classifiers=["resnet18"], arms=["none", "gaunet"], fractions=[0.5],
        seeds=1, size=16, width=0.125, fit=FitSettings(epochs=1),
        # smoothing applies with mix only (pretrain refuses it, test_synthetic_draws.py)
        synthetic_smoothing=0.1 if schedule == "mix" else 0.0, synthetic_schedule=schedule,
    )  # fmt: skip
    run_benchmark(settings, tmp_path, arms_helper=helper)
    fits = [(len(images), kwargs.get("smoothing"), images) for images, _, kwargs in recorded]
    n_real = fits[0][0]
    assert fits[0][1] is None  # `none` has no synthetic image to smooth
    if schedule == "mix":
        assert [f[0] for f in fits] == [n_real, 2 * n_real]
        assert fits[1][1].tolist() == [0.0] * n_real + [0.1] * n_real
    else:  # synthetic images alone, then the real ones alone
        assert [f[0] for f in fits] == [n_real, n_real, n_real]
        assert np.array_equal(fits[2][2], fits[0][2])  # the fine-tuning set is the real subset
        assert not np.array_equal(fits[1][2], fits[0][2])
    assert json.loads((tmp_path / "benchmark.json").read_text())["synthetic_schedule"] == schedule


@pytest.mark.parametrize("spec, classic", [("copies", False), ("copies+classic", True)])
def test_copies_control_arm_adds_real_copies_treated_like_synthetic_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str, classic: bool
) -> None:
    from gaunet.downstream.cells import real_copies

    (arm,) = parse_arms([spec])
    assert (arm.kind, arm.classic) == ("copies", classic)
    subset = _subset()
    copies_x, copies_y = real_copies(subset.images, subset.labels, 2.0)
    assert np.bincount(copies_y).tolist() == (2 * np.bincount(subset.labels)).tolist()
    for image, label in zip(copies_x, copies_y):  # each one an unchanged real image of its class
        same = (subset.images == image).all((1, 2, 3))
        assert same.any() and set(subset.labels[same]) == {label}
    recorded = _spy_fit_network(monkeypatch)
    settings = BenchmarkSettings(
        data="phantom:n=24", classifiers=["resnet18"], arms=["classic", spec], fractions=[0.5],
        seeds=1, size=16, width=0.125, fit=FitSettings(epochs=1), synthetic_smoothing=0.4,
    )  # fmt: skip
    run_benchmark(settings, tmp_path, arms_helper=GeneratorArms(tmp_path))
    fits = [(len(y), kwargs.get("smoothing"), kwargs["augment"]) for _, y, kwargs in recorded]
    n_real = fits[0][0]
    assert fits[1][0] == 2 * n_real and fits[1][2] == classic
    assert fits[1][1].tolist() == [0.0] * n_real + [0.4] * n_real
    summary = json.loads((tmp_path / "summary.json").read_text())
    entry = next(e for e in summary["entries"] if e["arm"] == spec)
    assert ("gain_vs_classic" in entry) == classic


def test_generator_arms_are_compared_with_the_copies_control_of_their_kind(tmp_path: Path) -> None:
    fake = FakeGenerators()
    helper = GeneratorArms(tmp_path, train_fn=fake.train, generate_fn=fake.generate)
    arms = ["none", "classic", "copies", "copies+classic", "gaunet", "gaunet+classic"]
    settings = BenchmarkSettings(
        data="phantom:n=24", classifiers=["resnet18"], arms=arms, fractions=[0.5], seeds=2,
        size=16, width=0.125, fit=FitSettings(epochs=1), synthetic_smoothing=0.2,
    )  # fmt: skip
    run_benchmark(settings, tmp_path, arms_helper=helper)
    entries = {e["arm"]: e for e in json.loads((tmp_path / "summary.json").read_text())["entries"]}
    assert {a for a, e in entries.items() if "gain_vs_copies" in e} == {"gaunet", "gaunet+classic"}
    rows = {}
    for row in csv.DictReader(open(tmp_path / "results.csv")):
        rows[(row["arm"], row["metric"], row["seed"])] = float(row["value"])
    for arm, control in (("gaunet", "copies"), ("gaunet+classic", "copies+classic")):
        difference = [rows[(arm, "auc", s)] - rows[(control, "auc", s)] for s in ("0", "1")]
        assert entries[arm]["gain_vs_copies"]["auc"]["mean"] == pytest.approx(np.mean(difference))
    heading = next(
        line
        for line in (tmp_path / "summary.md").read_text().splitlines()
        if "against the `copies` control" in line
    )
    assert "`typical-copies`" in heading  # a control that sits in that table too, named


@pytest.mark.parametrize("spec, classic", [("more-real", False), ("more-real+classic", True)])
def test_more_real_ceiling_arm_adds_unseen_training_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str, classic: bool
) -> None:
    (arm,) = parse_arms([spec])
    assert (arm.kind, arm.classic) == ("more-real", classic)
    recorded = _spy_fit_network(monkeypatch)
    settings = BenchmarkSettings(
        data="phantom:n=40", classifiers=["resnet18"], arms=["none", spec], fractions=[0.25],
        seeds=1, size=16, width=0.125, fit=FitSettings(epochs=1), synthetic_smoothing=0.3,
    )  # fmt: skip
    run_benchmark(settings, tmp_path, arms_helper=GeneratorArms(tmp_path))
    (real_x, real_y, _), (x, y, kwargs) = recorded
    smoothing, augment = kwargs.get("smoothing"), kwargs["augment"]
    n = len(real_y)
    assert augment == classic and np.array_equal(x[:n], real_x)
    assert np.bincount(y[n:]).tolist() == np.bincount(real_y).tolist()  # ratio 1, per class
    assert smoothing.tolist() == [0.0] * n + [0.3] * n  # treated like synthetic images
    data = assign_split(load_source("phantom:n=40", size=16, channels=1), seed=0)
    train = data.where_split("train")
    held = np.concatenate([data.where_split(s).images for s in ("val", "test")])
    for image, label in zip(x[n:], y[n:]):
        in_train = (train.images == image).all((1, 2, 3))
        assert in_train.any() and set(train.labels[in_train]) == {label}  # a real train image
        assert not (real_x == image).all((1, 2, 3)).any()  # not one of the subset's
        assert not (held == image).all((1, 2, 3)).any()  # never validation or test


def test_more_real_rows_are_what_the_next_subset_adds() -> None:
    from gaunet.downstream.subsets import rows_after_subset

    labels = np.repeat([0, 1, 2], [20, 12, 8])
    subsets = nested_subsets(labels, [0.25, 0.5], seed=3)
    wanted = np.bincount(labels[subsets[0.5]]) - np.bincount(labels[subsets[0.25]])
    rows = rows_after_subset(labels, 0.25, wanted, seed=3)
    assert rows.tolist() == sorted(set(subsets[0.5]) - set(subsets[0.25]))
    with pytest.raises(GaunetError, match="class 0 has 15 training images outside the subset"):
        rows_after_subset(labels, 0.25, np.array([16, 0, 0]), seed=3)


def test_more_real_at_the_full_split_fails_before_any_cell(tmp_path: Path) -> None:
    settings = BenchmarkSettings(
        data="phantom:n=24", classifiers=["resnet18"], arms=["none", "more-real"],
        fractions=[1.0], seeds=1, size=16, width=0.125, fit=FitSettings(epochs=1),
    )  # fmt: skip
    with pytest.raises(GaunetError, match="more-real at fraction 1"):
        run_benchmark(settings, tmp_path, arms_helper=GeneratorArms(tmp_path))
    assert not (tmp_path / "results.csv").exists() or len(read_rows(tmp_path)) == 0


def read_rows(folder: Path) -> list[dict]:
    with open(folder / "results.csv") as handle:
        return list(csv.DictReader(handle))


def _darkest_scorer(train: ImageSet):
    """A "classifier" surest of the darkest images of each class."""
    return lambda images: np.stack(
        [1 - images.mean((1, 2, 3)) / 255, images.mean((1, 2, 3)) / 255], 1
    )


def test_typical_copies_are_what_the_filter_keeps_from_copies(tmp_path: Path) -> None:
    subset = _subset()
    helper = GeneratorArms(tmp_path, filter_pool=3, scorer_fn=_darkest_scorer)
    images, labels = helper.typical_copies(0.5, subset)
    assert np.bincount(labels, minlength=2).tolist() == np.bincount(subset.labels).tolist()
    confidence = _darkest_scorer(subset)(subset.images)[np.arange(len(subset)), subset.labels]
    for c in (0, 1):
        rows = np.flatnonzero(subset.labels == c)
        n = len(rows)
        best = rows[np.argsort(-confidence[rows], kind="stable")]
        # whole blocks of 3 copies of the surest images, then what is left of the next block
        expected = np.repeat(best, 3)[:n]
        kept = images[labels == c]  # in candidate order: by real image, then copy
        np.testing.assert_array_equal(kept, subset.images[np.sort(expected)])
        assert len(set(expected.tolist())) == -(-n // 3)
    report = json.loads((tmp_path / "synthetic" / "typical-copies-f0.5-s0-p3.json").read_text())
    counts = np.bincount(subset.labels)
    blocks = {name: int(-(-counts[c] // 3)) for c, name in enumerate(subset.class_names)}
    assert report.pop("wanted") == counts.tolist() and report.pop("subset_sha256")
    assert len(report.pop("kept_rows")) == len(subset)  # the rows, read back on a rerun
    assert report == {"pool": 3, "real_images": blocks}


def test_typical_copies_are_compared_with_and_need_a_filter(tmp_path: Path) -> None:
    fake = FakeGenerators()
    settings = BenchmarkSettings(
        data="phantom:n=24",
        classifiers=["resnet18"],
        arms=["none", "gaunet", "typical-copies"],
        fractions=[0.5],
        seeds=2,
        size=16,
        width=0.125,
        fit=FitSettings(epochs=1),
        filter_pool=3,
    )
    helper = GeneratorArms(
        tmp_path, train_fn=fake.train, generate_fn=fake.generate, scorer_fn=_darkest_scorer
    )
    run_benchmark(settings, tmp_path, arms_helper=helper)
    summary = json.loads((tmp_path / "summary.json").read_text())
    gaunet = next(e for e in summary["entries"] if e["arm"] == "gaunet")
    assert gaunet["gain_vs_typical_copies"]["accuracy"]["n"] == 2
    typical = next(e for e in summary["entries"] if e["arm"] == "typical-copies")
    assert "gain_vs_typical_copies" not in typical and typical["gain"]["accuracy"]["n"] == 2
    assert "against `typical-copies`" in (tmp_path / "summary.md").read_text()
    settings.filter_pool = 1
    with pytest.raises(GaunetError, match="control of --filter-pool"):
        run_benchmark(settings, tmp_path / "other", arms_helper=helper)


@pytest.mark.parametrize(
    "spec, classic", [("typical-copies", False), ("typical-copies+classic", True)]
)
def test_typical_copies_arm_names(spec: str, classic: bool) -> None:
    (arm,) = parse_arms([spec])
    assert (arm.kind, arm.classic, arm.name) == ("typical-copies", classic, spec)


@pytest.mark.parametrize(
    ("pool", "arms", "low", "said"),
    [
        (3, ["gaunet"], 0.5, True),  # beat copies with a filter: the control is asked for
        (1, ["gaunet"], 0.5, False),  # no filter, nothing chosen
        (3, ["gaunet"], -0.5, False),  # did not beat copies
        (3, ["gaunet", "typical-copies"], 0.5, False),  # the control already ran
    ],
)
def test_summary_asks_for_the_filter_control_when_filtered_images_beat_copies(
    pool: int, arms: list[str], low: float, said: bool
) -> None:
    from gaunet.downstream.advice import typical_caution

    gain = {"accuracy": {"mean": low + 1.0, "half": 1.0, "p": 0.01, "n": 10}}
    entries = [
        {"classifier": "resnet18", "fraction": 0.25, "arm": arm, "gain": gain, "metrics": {}}
        for arm in arms
    ]
    entries[0]["gain_vs_copies"] = gain
    lines = typical_caution(entries, {"filter_pool": pool})
    assert bool(lines) is said
    if said:
        assert "`gaunet` beat the `copies` control" in lines[1]
        assert "typical-copies,typical-copies+classic" in lines[1]


def test_typical_copies_are_a_control_not_a_generator_arm() -> None:
    from gaunet.downstream.gains import generator_entries
    from gaunet.report.html import arm_name

    arms = ["gaunet", "typical-copies", "typical-copies+classic", "copies", "gaunet+classic"]
    entries = [{"arm": arm} for arm in arms]
    assert [e["arm"] for e in generator_entries(entries)] == ["gaunet", "gaunet+classic"]
    assert "most typical" in arm_name("typical-copies+classic")
