"""--select-snapshot fd-val: the generator arm's images come from the periodic checkpoint whose
images are closest to the validation images, scored with features of the fraction's images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from downstream_helpers import FakeGenerators, one_quiet_thread

from gaunet.config import PRESET_DIR
from gaunet.data import ImageSet, assign_split, load_source, read_split
from gaunet.downstream.arms import parse_arms
from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark
from gaunet.downstream.fit import FitSettings
from gaunet.downstream.generator_arms import GeneratorArms
from gaunet.downstream.snapshots import choose_snapshot, score_snapshot, snapshot_candidates
from gaunet.downstream.subsets import nested_subsets
from gaunet.errors import GaunetError

STEPS = (200, 300, 400)
# the fake generator brightens its copies of the training images by this much per snapshot;
# step 300's images are the training images themselves, so the closest to validation
OFFSETS = {200: 60, 300: 0, 400: 120}


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    with one_quiet_thread(monkeypatch):
        yield


def _data() -> ImageSet:
    return assign_split(load_source("phantom:n=60", size=16, channels=1), seed=0)


def _subset(data: ImageSet, fraction: float = 0.5) -> ImageSet:
    train = data.where_split("train")
    subset = train.subset(nested_subsets(train.labels, [fraction])[fraction])
    subset.split = np.full(len(subset), "train")
    return subset


class MomentFeatures:
    """A stand-in for the domain CNN: brightness moments as features; records what it sees."""

    def __init__(self, train: ImageSet) -> None:
        self.train_ids = set(train.ids)
        self.seen: list[np.ndarray] = []

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.seen.append(images)
        x = images.reshape(len(images), -1).astype(np.float64) / 255
        half = x.shape[1] // 2
        return np.stack([x.mean(1), x.std(1), x[:, :half].mean(1), x[:, half:].mean(1)], 1)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        bright = images.reshape(len(images), -1).mean(1) / 255
        return np.stack([1 - bright, bright], 1)


def _fake_with_snapshots() -> FakeGenerators:
    fake = FakeGenerators()
    fake.offset = lambda checkpoint: OFFSETS[int(Path(checkpoint).stem.split("-")[1])]
    train = fake.train

    def train_with_snapshots(data: ImageSet | None, out: Path, **kwargs: object) -> Path:
        run = train(data, out, **kwargs)
        (run / "checkpoints").mkdir(exist_ok=True)
        for step in STEPS:
            (run / "checkpoints" / f"step-{step:06d}.pt").write_bytes(f"step {step}".encode())
        # the final state, saved with the last periodic snapshot: the same file, one candidate
        (run / "checkpoints" / "last.pt").write_bytes(f"step {STEPS[-1]}".encode())
        return run

    fake.train = train_with_snapshots
    return fake


def _helper(out: Path, fake: FakeGenerators, validation: ImageSet, extractors: list) -> object:
    def extractor_fn(train: ImageSet) -> MomentFeatures:
        extractors.append(MomentFeatures(train))
        return extractors[-1]

    return GeneratorArms(
        out,
        select_snapshot="fd-val",
        validation=validation,
        train_fn=fake.train,
        generate_fn=fake.generate,
        extractor_fn=extractor_fn,
    )


@pytest.mark.parametrize(
    "scores, step",
    [
        ([(100, 5.0), (200, 1.0), (300, 3.0)], 200),
        ([(100, 1.0), (200, 2.0)], 100),
        ([(100, 2.0), (200, 2.0), (300, 4.0)], 200),  # a tie goes to the later snapshot
    ],
)
def test_choose_snapshot_takes_the_lowest_fd(scores: list, step: int) -> None:
    entries = [{"step": s, "fd_val": fd} for s, fd in scores]
    assert choose_snapshot(entries)["step"] == step


@pytest.mark.parametrize(
    "scores, step",
    [
        ([(100, 0.6), (200, 0.8), (300, 0.7)], 200),
        ([(100, 0.7), (200, float("nan"))], 100),  # an undefined AUC never wins
        ([(100, 0.7), (200, 0.7)], 200),
    ],
)
def test_choose_snapshot_takes_the_highest_cas_auc(scores: list, step: int) -> None:
    entries = [{"step": s, "cas_val_auc": auc} for s, auc in scores]
    assert choose_snapshot(entries, "cas-val")["step"] == step


def test_candidates_are_the_periodic_files_oldest_first(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in ("step-000400.pt", "step-000100.pt", "step-000200.pt", "step-000300.pt"):
        (folder / name).write_bytes(name.encode())
    (folder / "last.pt").write_bytes(b"step-000400.pt")  # the final state = the last periodic
    (folder / "step-000250.pt.sha256").write_text("f" * 64)  # a sidecar alone is no snapshot
    candidates = snapshot_candidates(tmp_path)
    # the first half of training (step 100 of 400) is no candidate
    names = [Path(c["checkpoint"]).name for c in candidates]
    assert names == ["step-000200.pt", "step-000300.pt", "step-000400.pt"]
    assert len({c["sha256"] for c in candidates}) == 3
    assert [c["step"] for c in snapshot_candidates(tmp_path, earliest=0.0)] == [100, 200, 300, 400]


def test_score_snapshot_is_zero_for_the_validation_images_themselves() -> None:
    data = _data()
    validation = data.where_split("val")
    features = MomentFeatures(validation)
    same = score_snapshot(validation.images, validation.labels, validation, features)
    brighter = np.clip(validation.images.astype(int) + 80, 0, 255).astype(np.uint8)
    moved = score_snapshot(brighter, validation.labels, validation, features)
    assert same["fd_val"] == pytest.approx(0.0, abs=1e-6)
    assert moved["fd_val"] > 0.01
    assert 0.0 <= moved["pa"] <= 1.0


def _selection_setup() -> tuple[ImageSet, ImageSet, FakeGenerators, list]:
    """The fraction subset, the validation split, a fake with snapshots, extractors made."""
    data = _data()
    return _subset(data), data.where_split("val"), _fake_with_snapshots(), []


def test_fd_val_samples_the_snapshot_closest_to_validation(tmp_path: Path) -> None:
    subset, validation, fake, extractors = _selection_setup()
    helper = _helper(tmp_path, fake, validation, extractors)
    images, labels, manifest = helper.extra_images(parse_arms(["gaunet"])[0], 0.5, subset)

    record = json.loads(next((tmp_path / "generators").glob("*-selection.json")).read_text())
    assert [s["step"] for s in record["snapshots"]] == list(STEPS)
    assert record["chosen"]["step"] == 300
    assert all(np.isfinite(s["fd_val"]) and 0 <= s["pa"] <= 1 for s in record["snapshots"])
    # the arm's images are the chosen snapshot's, as scored: unshifted copies of subset images
    assert manifest.parent == Path(record["chosen"]["images"])
    assert len(fake.generated_from) == len(STEPS)  # each snapshot generated once, none again
    assert set(map(bytes, images.reshape(len(images), -1))) <= set(
        map(bytes, subset.images.reshape(len(subset), -1))
    )
    assert np.bincount(labels).tolist() == np.bincount(subset.labels).tolist()
    # features from the fraction's images only; the reference is the validation split
    (extractor,) = extractors
    assert extractor.train_ids == set(subset.ids)
    assert any(np.array_equal(seen, validation.images) for seen in extractor.seen)
    # the yardstick: the real training images scored the same way; step 300's images are
    # those very images, so the same FD
    real = score_snapshot(subset.images, subset.labels, validation, extractor)
    assert {k: record["real"][k] for k in real} == real
    assert record["real"]["fd_val"] == pytest.approx(record["chosen"]["fd_val"], abs=1e-6)
    # and how well the extractor, trained on those images, tells the validation classes apart
    assert 0.0 <= record["real"]["cas_val_auc"] <= 1.0
    assert 0.0 <= record["real"]["cas_val_balanced_accuracy"] <= 1.0


def test_the_selection_is_scored_once_then_read_back(tmp_path: Path) -> None:
    subset, validation, fake, extractors = _selection_setup()
    first = _helper(tmp_path, fake, validation, extractors)
    images, _, _ = first.extra_images(parse_arms(["gaunet"])[0], 0.5, subset)
    again = _helper(tmp_path, fake, validation, extractors)
    repeat, _, _ = again.extra_images(parse_arms(["gaunet"])[0], 0.5, subset)
    assert len(extractors) == 1  # no second scoring
    assert np.array_equal(images, repeat)


@pytest.mark.parametrize("without_checkpoints", [False, True])
def test_a_moved_folder_reads_its_selection_back(tmp_path: Path, without_checkpoints: bool) -> None:
    """The record named the run's old path, so a moved or carried folder scored its snapshots
    again (another device's extractor could pick another one for its new cells)."""
    subset, validation, fake, extractors = _selection_setup()
    first = _helper(tmp_path / "a", fake, validation, extractors)
    images, _, _ = first.extra_images(parse_arms(["gaunet"])[0], 0.5, subset)
    shutil.move(tmp_path / "a", tmp_path / "b")
    if without_checkpoints:  # a GPU folder brought back without its large files
        for folder in (tmp_path / "b" / "generators").glob("*/checkpoints"):
            shutil.rmtree(folder)
    again = _helper(tmp_path / "b", fake, validation, extractors)
    repeat, _, manifest = again.extra_images(parse_arms(["gaunet"])[0], 0.5, subset)
    assert len(extractors) == 1  # no second scoring
    assert np.array_equal(images, repeat) and tmp_path / "b" in manifest.parents


def test_saved_choice_needs_the_same_criterion_and_snapshots(tmp_path: Path) -> None:
    from gaunet.downstream.snapshots import saved_choice

    here = [{"step": s, "checkpoint": f"/new/step-{s}.pt", "sha256": f"d{s}"} for s in STEPS]
    before = [{**c, "checkpoint": c["checkpoint"].replace("/new", "/old")} for c in here]
    saved = {"criterion": "fd-val", "chosen": before[1], "snapshots": before}

    def folder_of(candidate: dict) -> Path:
        return tmp_path / f"step-{candidate['step']}"

    assert saved_choice(saved, "fd-val", here, folder_of) == (
        tmp_path / f"step-{STEPS[1]}",
        Path(f"/new/step-{STEPS[1]}.pt"),
    )  # the checkpoint where it is now
    assert saved_choice(saved, "cas-val", here, folder_of) is None
    retrained = [{**c, "sha256": "x" + c["sha256"]} for c in here]
    assert saved_choice(saved, "fd-val", retrained, folder_of) is None
    assert saved_choice(saved, "fd-val", [], folder_of) is None  # no checkpoints, no images
    (tmp_path / f"step-{STEPS[1]}").mkdir()
    (tmp_path / f"step-{STEPS[1]}" / "manifest.csv").write_text("path,label\n")
    assert saved_choice(saved, "fd-val", [], folder_of)[0] == tmp_path / f"step-{STEPS[1]}"


def test_a_retrained_run_is_scored_again(tmp_path: Path) -> None:
    subset, validation, fake, extractors = _selection_setup()
    first = _helper(tmp_path, fake, validation, extractors)
    first.extra_images(parse_arms(["gaunet"])[0], 0.5, subset)
    (run,) = [Path(r) for r in fake.runs]
    # the same run folder, trained again: other weights, and now step 200 is the closest
    for step in STEPS:
        (run / "checkpoints" / f"step-{step:06d}.pt").write_bytes(f"again {step}".encode())
    (run / "checkpoints" / "last.pt").write_bytes(f"again {STEPS[-1]}".encode())
    fake.offset = lambda checkpoint: {200: 0, 300: 90, 400: 120}[
        int(Path(checkpoint).stem.split("-")[1])
    ]
    again = _helper(tmp_path, fake, validation, extractors)
    _, _, manifest = again.extra_images(parse_arms(["gaunet"])[0], 0.5, subset)
    record = json.loads(next((tmp_path / "generators").glob("*-selection.json")).read_text())
    assert len(extractors) == 2 and record["chosen"]["step"] == 200
    assert manifest.parent == Path(record["chosen"]["images"])
    assert len(fake.generated_from) == 2 * len(STEPS)  # no image of the first training reused


def test_the_final_state_is_a_candidate_when_no_periodic_file_has_it(tmp_path: Path) -> None:
    from train_helpers import tiny_train

    run = tiny_train(tmp_path / "run", steps=10, periodic_every=3, keep_periodic=0)
    assert [c["step"] for c in snapshot_candidates(run)] == [6, 9, 10]  # from step 5 on
    again = tiny_train(tmp_path / "even", steps=8, periodic_every=4, keep_periodic=0)
    candidates = snapshot_candidates(again)
    assert [c["step"] for c in candidates] == [4, 8]  # last.pt is step-000008.pt's twin
    assert all(Path(c["checkpoint"]).name.startswith("step-") for c in candidates)


def _preset_with(tmp_path: Path, config: dict) -> Path:
    preset = tmp_path / "gen.yaml"
    preset.write_text(
        (PRESET_DIR / "cpu-tiny.yaml").read_text()
        + "".join(f"\n{k}: {v}" for k, v in config.items())
        + "\n"
    )
    return preset


@pytest.mark.parametrize(
    "config, steps, minutes, words",
    [
        # a minutes budget: the steps are unknown, so no snapshots can be planned
        ({"periodic_every": 0}, None, 5.0, "periodic_every is 0"),
        ({"periodic_every": 10, "keep_periodic": 1}, None, 5.0, "keep_periodic"),
        # one step cannot give two snapshots
        ({"periodic_every": 0}, 1, None, "not below"),
    ],
)
def test_a_config_with_one_snapshot_is_refused_before_training(
    tmp_path: Path, config: dict, steps: int | None, minutes: float | None, words: str
) -> None:
    fake, extractors = _fake_with_snapshots(), []
    helper = _helper(tmp_path, fake, None, extractors)
    preset = str(_preset_with(tmp_path, config))
    settings = _benchmark_settings(gen_config=preset, gen_steps=steps, gen_minutes=minutes)
    with pytest.raises(GaunetError, match=words):
        run_benchmark(settings, tmp_path / "bench", arms_helper=helper)
    assert fake.trained == [] and not (tmp_path / "bench" / "benchmark.json").exists()


@pytest.mark.parametrize(
    "config, steps, overrides",
    [
        ({"periodic_every": 0}, 100, {"periodic_every": 10, "keep_periodic": 0}),
        ({"periodic_every": 100}, 100, {"periodic_every": 10, "keep_periodic": 0}),
        ({"periodic_every": 10, "keep_periodic": 1}, 100, {"keep_periodic": 0}),
        # already serves: 10 and 20 in the second half, both kept
        ({"periodic_every": 10, "keep_periodic": 5}, 20, {}),
        # a last.pt off the periodic grid is a candidate too: 60 and 75
        ({"periodic_every": 60, "keep_periodic": 0}, 75, {}),
    ],
)
def test_the_benchmark_plans_the_snapshots_it_compares(
    tmp_path: Path, config: dict, steps: int, overrides: dict
) -> None:
    fake, extractors = _fake_with_snapshots(), []
    helper = _helper(tmp_path, fake, None, extractors)
    settings = _benchmark_settings(gen_config=str(_preset_with(tmp_path, config)), gen_steps=steps)
    run_benchmark(settings, tmp_path / "bench", arms_helper=helper)
    (call,) = fake.calls
    keys = ("periodic_every", "keep_periodic")
    assert {k: v for k, v in call["overrides"].items() if k in keys} == overrides


def test_the_last_snapshot_needs_no_plan(tmp_path: Path) -> None:
    fake, extractors = FakeGenerators(), []
    helper = _helper(tmp_path, fake, None, extractors)
    preset = str(_preset_with(tmp_path, {"periodic_every": 0}))
    settings = _benchmark_settings(gen_config=preset, gen_steps=100, select_snapshot="last")
    run_benchmark(settings, tmp_path / "bench", arms_helper=helper)
    (call,) = fake.calls
    assert "periodic_every" not in call["overrides"] and "keep_periodic" not in call["overrides"]


@pytest.mark.parametrize(
    "change, words", [({"filter_pool": 3}, "filter-pool"), ({"select_snapshot": "fd"}, "fd-val")]
)
def test_settings_that_cannot_select_are_refused_first(
    tmp_path: Path, change: dict, words: str
) -> None:
    fake, extractors = _fake_with_snapshots(), []
    helper = _helper(tmp_path, fake, None, extractors)
    with pytest.raises(GaunetError, match=words):
        run_benchmark(_benchmark_settings(**change), tmp_path / "bench", arms_helper=helper)
    assert fake.trained == []


def test_a_run_without_periodic_checkpoints_is_a_clear_error(tmp_path: Path) -> None:
    data = _data()
    fake, extractors = FakeGenerators(), []
    helper = _helper(tmp_path, fake, data.where_split("val"), extractors)
    with pytest.raises(GaunetError, match="periodic_every"):
        helper.extra_images(parse_arms(["gaunet"])[0], 0.5, _subset(data))


def test_an_unknown_criterion_is_refused(tmp_path: Path) -> None:
    data = _data()
    fake, extractors = _fake_with_snapshots(), []
    helper = _helper(tmp_path, fake, data.where_split("val"), extractors)
    helper.select_snapshot = "fd-test"
    with pytest.raises(GaunetError, match="fd-val"):
        helper.extra_images(parse_arms(["gaunet"])[0], 0.5, _subset(data))


def _benchmark_settings(**changes: object) -> BenchmarkSettings:
    settings = dict(
        data="phantom:n=60",
        classifiers=["resnet18"],
        arms=["none", "gaunet"],
        fractions=[0.5],
        seeds=1,
        size=16,
        width=0.125,
        fit=FitSettings(epochs=1, batch_size=32),
        select_snapshot="fd-val",
        gen_config=str(PRESET_DIR / "cpu-tiny.yaml"),
        gen_steps=2000,  # above the preset's periodic_every (1000): two snapshots at least
    )
    return BenchmarkSettings(**{**settings, **changes})


def test_the_benchmark_hands_its_validation_split_to_the_selection(tmp_path: Path) -> None:
    fake, extractors = _fake_with_snapshots(), []
    helper = _helper(tmp_path, fake, None, extractors)
    settings = _benchmark_settings()
    run_benchmark(settings, tmp_path, arms_helper=helper)
    split = read_split(tmp_path / "split.csv")
    assert set(helper.validation.ids) == {i for i, s in split.items() if s == "val"}
    assert json.loads(next((tmp_path / "generators").glob("*-selection.json")).read_text())
    summary = (tmp_path / "summary.md").read_text()
    assert "`--select-snapshot fd-val` chose" in summary
    assert "- `gaunet-f0.5-s0-r1`: step 300 of 400 (fd_val " in summary
    assert "; the real training images " in summary and "is the yardstick" in summary
    test = _data().where_split("test")  # the same phantom and split seed as the benchmark
    (extractor,) = extractors
    assert not any(np.array_equal(seen, test.images) for seen in extractor.seen)
    assert any(np.array_equal(seen, helper.validation.images) for seen in extractor.seen)
    with pytest.raises(GaunetError, match="select_snapshot"):
        run_benchmark(
            BenchmarkSettings(**{**settings.__dict__, "select_snapshot": "last"}), tmp_path
        )


def _dark_and_bright(n: int, seed: int, split: str) -> ImageSet:
    """Two classes told apart by brightness alone, so a linear model learns them from few."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n)
    base = np.where(labels == 1, 180, 70)[:, None, None, None]
    images = np.clip(base + rng.integers(-30, 31, (2 * n, 1, 16, 16)), 0, 255).astype(np.uint8)
    ids = np.asarray([f"{split}/{i}" for i in range(2 * n)])
    return ImageSet(images, labels, ["dark", "bright"], ids, ids, split=np.full(2 * n, split))


class BrightnessClassifier(MomentFeatures):
    """Logistic regression on mean brightness, fitted to the images it is given."""

    def __init__(self, train: ImageSet) -> None:
        from sklearn.linear_model import LogisticRegression

        super().__init__(train)
        self.model = LogisticRegression().fit(self._brightness(train.images), train.labels)

    @staticmethod
    def _brightness(images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1).mean(1, keepdims=True) / 255

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self._brightness(images))


def test_cas_val_prefers_images_whose_classes_carry_over_to_real_ones(tmp_path: Path) -> None:
    """Steps 200 and 400 draw the other class's images under each label: the same images as
    step 300, so the same FD (fd-val cannot tell them apart), but a classifier trained on them
    gets the validation classes backwards, and cas-val sees it."""
    criterion = "cas-val"
    subset, validation = _dark_and_bright(12, 0, "train"), _dark_and_bright(6, 1, "val")
    fake = _fake_with_snapshots()
    fake.offset = lambda checkpoint: 0
    fake.swap = lambda checkpoint: Path(checkpoint).name != "step-000300.pt"
    trained_on: list[ImageSet] = []

    def classifier_fn(train: ImageSet) -> BrightnessClassifier:
        trained_on.append(train)
        return BrightnessClassifier(train)

    helper = GeneratorArms(
        tmp_path,
        select_snapshot=criterion,
        validation=validation,
        train_fn=fake.train,
        generate_fn=fake.generate,
        extractor_fn=classifier_fn,
    )
    helper.extra_images(parse_arms(["gaunet"])[0], 1.0, subset)
    record = json.loads(next((tmp_path / "generators").glob("*-selection.json")).read_text())
    assert record["criterion"] == criterion and record["chosen"]["step"] == 300
    fd = [s["fd_val"] for s in record["snapshots"]]
    assert fd == pytest.approx([fd[0]] * len(STEPS), abs=1e-3)  # the same images
    auc = {s["step"]: s["cas_val_auc"] for s in record["snapshots"]}
    assert auc[300] > 0.9 and auc[200] < 0.1 and auc[400] < 0.1
    assert record["real"]["cas_val_auc"] > 0.9  # the subset's own classifier, not retrained
    # one classifier on the subset (FD features), then one per snapshot on its images only
    assert set(trained_on[0].ids) == set(subset.ids)
    assert all(set(t.ids).isdisjoint(validation.ids) for t in trained_on)
    assert len(trained_on) == 1 + len(STEPS)
