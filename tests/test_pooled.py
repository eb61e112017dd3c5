"""Gains pooled over subset seeds: the statistics, the folder checks and the commands."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from downstream_helpers import one_quiet_thread
from scipy import stats as scipy_stats

from gaunet.cli import main
from gaunet.config import PRESET_DIR
from gaunet.downstream import subset_runs
from gaunet.downstream.benchmark import BenchmarkSettings
from gaunet.downstream.pooled import check_poolable, pool_entries, verdict, write_pooled
from gaunet.downstream.results_file import is_finished
from gaunet.errors import GaunetError
from gaunet.progress import progress


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    with one_quiet_thread(monkeypatch):
        yield


def _summary(seed: int, gains: dict[str, float], **settings: object) -> dict:
    """A summary.json with one gaunet+classic entry whose mean gains are `gains`."""
    stat = {metric: {"mean": value} for metric, value in gains.items()}
    entry = {
        "classifier": "resnet18",
        "fraction": 0.25,
        "arm": "gaunet+classic",
        "gain": stat,
        "gain_vs_classic": {m: {"mean": v - 0.04} for m, v in gains.items()},
    }
    return {"settings": {"data": "x.npz", "subset_seed": seed, **settings}, "entries": [entry]}


@pytest.mark.parametrize(
    "per_subset", [[0.01, 0.03, 0.02], [0.05, -0.02], [0.02, 0.04, 0.01, 0.03, 0.0]]
)
def test_pooled_gain_is_the_t_interval_over_subset_means(per_subset: list[float]) -> None:
    summaries = [_summary(s, {"accuracy": g, "auc": 2 * g}) for s, g in enumerate(per_subset)]
    (entry,) = pool_entries(summaries)
    stat = entry["gain"]["accuracy"]
    k = len(per_subset)
    half = scipy_stats.t.ppf(0.975, k - 1) * np.std(per_subset, ddof=1) / np.sqrt(k)
    assert stat["per_subset"] == pytest.approx(per_subset)
    assert stat["mean"] == pytest.approx(np.mean(per_subset))
    assert stat["half"] == pytest.approx(half)
    assert stat["p"] == pytest.approx(scipy_stats.ttest_1samp(per_subset, 0).pvalue)
    assert entry["gain_vs_classic"]["auc"]["mean"] == pytest.approx(2 * np.mean(per_subset) - 0.04)


def test_only_entries_present_in_every_folder_are_pooled() -> None:
    first = _summary(0, {"accuracy": 0.01})
    second = _summary(1, {"accuracy": 0.02})
    second["entries"][0]["arm"] = "gan+classic"
    assert pool_entries([first, second]) == []


@pytest.mark.parametrize(
    "per_subset, words",
    [
        ([0.03, 0.04, 0.035], "a gain over the 3 subsets (interval over subsets above 0)."),
        ([-0.03, -0.04, -0.035], "a loss over the 3 subsets"),
        ([0.05, -0.02, 0.01], "includes 0; the subsets disagree in sign"),
        ([0.05, 0.01], "not shown over the 2 subsets"),
        ([0.05, 0.06, 0.055, 0.05, -0.001], "above 0; the subsets disagree in sign"),
        # accuracy moves in steps of 1/N_test: equal subset gains happen, and give no interval
        ([2 / 156, 2 / 156], "the 2 subsets gave the same gain, so they give no interval"),
        ([0.02], "one subset only"),
    ],
)
def test_verdict_says_what_the_subsets_support(per_subset: list[float], words: str) -> None:
    summaries = [_summary(s, {"accuracy": g}) for s, g in enumerate(per_subset)]
    stat = pool_entries(summaries)[0]["gain"]["accuracy"]
    assert words in verdict(stat, "gaunet")


def test_folders_must_differ_in_the_subset_seed_alone(tmp_path: Path) -> None:
    folders = [tmp_path / "a", tmp_path / "b"]
    with pytest.raises(GaunetError, match="different subset seeds"):
        check_poolable(folders, [{"subset_seed": 1}, {"subset_seed": 1}])
    with pytest.raises(GaunetError, match="synthetic_weight"):
        check_poolable(
            folders,
            [
                {"subset_seed": 0, "synthetic_weight": 1.0},
                {"subset_seed": 1, "synthetic_weight": 0.5},
            ],
        )
    with pytest.raises(GaunetError, match="at least 2"):
        check_poolable(folders[:1], [{"subset_seed": 0}])
    # arms, classifiers and seeds do not change a row's result: folders may differ in them
    check_poolable(
        folders,
        [{"subset_seed": 0, "arms": ["none", "classic"], "seeds": 10},
         {"subset_seed": 1, "arms": ["none", "classic", "copies"], "seeds": 5}],
    )  # fmt: skip


def test_generator_configs_match_by_their_settings_not_their_path(tmp_path: Path) -> None:
    preset = (PRESET_DIR / "cpu-tiny.yaml").read_text()
    same = tmp_path / "same.yaml"
    same.write_text(preset + "\nperiodic_every: 200\nkeep_periodic: 0\n")  # run folder only
    other = tmp_path / "other.yaml"
    other.write_text(preset + "\npixel_noise: 0.1\n")
    folders = [tmp_path / "a", tmp_path / "b"]
    check_poolable(
        folders,
        [{"subset_seed": 0, "gen_config": "cpu-tiny"}, {"subset_seed": 1, "gen_config": str(same)}],
    )
    with pytest.raises(GaunetError, match="gen_config"):
        check_poolable(
            folders,
            [
                {"subset_seed": 0, "gen_config": "cpu-tiny"},
                {"subset_seed": 1, "gen_config": str(other)},
            ],
        )


def test_a_folder_older_than_a_setting_pools_with_its_default(tmp_path: Path) -> None:
    folders = [tmp_path / "a", tmp_path / "b"]
    check_poolable(folders, [{"subset_seed": 0}, {"subset_seed": 1, "select_snapshot": "last"}])
    with pytest.raises(GaunetError, match="select_snapshot"):
        check_poolable(
            folders, [{"subset_seed": 0}, {"subset_seed": 1, "select_snapshot": "fd-val"}]
        )


def test_snapshot_settings_matter_when_snapshots_are_chosen(tmp_path: Path) -> None:
    preset = (PRESET_DIR / "cpu-tiny.yaml").read_text()
    every = []
    for value in (200, 400):
        path = tmp_path / f"every{value}.yaml"
        path.write_text(preset + f"\nperiodic_every: {value}\n")
        every.append({"gen_config": str(path), "select_snapshot": "fd-val"})
    folders = [tmp_path / "a", tmp_path / "b"]
    with pytest.raises(GaunetError, match="gen_config"):
        check_poolable(folders, [{"subset_seed": 0, **every[0]}, {"subset_seed": 1, **every[1]}])


def test_rows_missing_from_a_folder_are_named(tmp_path: Path) -> None:
    folders = []
    for seed, arms in ((0, ["gaunet+classic", "gan"]), (1, ["gaunet+classic"])):
        summary = _summary(seed, {"accuracy": 0.01 * (seed + 1)})
        for arm in arms[1:]:
            summary["entries"].append({**summary["entries"][0], "arm": arm})
        folder = tmp_path / f"s{seed}"
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps(summary))
        folders.append(folder)
    text = write_pooled(tmp_path / "out", folders).read_text()
    assert "Not pooled (absent from some folders): resnet18 f=0.25 gan." in text


def test_a_folder_without_a_summary_is_named(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    with pytest.raises(GaunetError, match="summary.json"):
        write_pooled(tmp_path / "out", [tmp_path / "a", tmp_path / "b"])


@pytest.mark.parametrize(
    "content", ["[]", "{}", '{"entries": [{"arm": "gaunet"}]}', '{"settings": 1, "entries": []}']
)
def test_a_summary_json_that_is_not_a_benchmarks_is_named(tmp_path: Path, content: str) -> None:
    """A summary.json of another shape (another tool's, a list) was an AttributeError or a
    KeyError traceback."""
    good, odd = tmp_path / "a", tmp_path / "b"
    for folder, text in ((good, json.dumps(_summary(0, {"accuracy": 0.01}))), (odd, content)):
        folder.mkdir()
        (folder / "summary.json").write_text(text)
    with pytest.raises(GaunetError, match="b/summary.json: not the summary.json of a `gaunet"):
        write_pooled(tmp_path / "out", [good, odd])
    assert not (tmp_path / "out").exists()


def test_benchmark_subset_seeds_runs_each_subset_then_pools(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    command = [
        "benchmark", "--data", "phantom:n=40", "--out", str(out), "--classifiers", "svm",
        "--arms", "none,classic", "--fractions", "0.5", "--seeds", "2", "--size", "16",
        "--subset-seeds", "0,1,2",
    ]  # fmt: skip
    assert main(command) == 0
    settings = [json.loads((out / f"subset-{s}" / "benchmark.json").read_text()) for s in range(3)]
    assert [s["subset_seed"] for s in settings] == [0, 1, 2]
    pooled = json.loads((out / "pooled.json").read_text())
    assert pooled["subset_seeds"] == [0, 1, 2]
    (classic,) = [e for e in pooled["entries"] if e["arm"] == "classic"]
    per_subset = [
        next(e for e in json.loads((out / f"subset-{s}" / "summary.json").read_text())["entries"]
             if e["arm"] == "classic")["gain"]["accuracy"]["mean"]
        for s in range(3)
    ]  # fmt: skip
    assert classic["gain"]["accuracy"]["per_subset"] == pytest.approx(per_subset)
    text = (out / "pooled.md").read_text()
    assert "Verdicts" in text and "With 3 subsets the interval uses t = 4.3; with 6" in text
    # `gaunet pool` on the same folders writes the same numbers
    assert main(["pool", "--benchmarks", *(str(out / f"subset-{s}") for s in range(3)),
                 "--out", str(tmp_path / "again")]) == 0  # fmt: skip
    again = json.loads((tmp_path / "again" / "pooled.json").read_text())
    assert again["entries"] == pooled["entries"]


def test_subset_folders_run_at_once_give_the_same_results(tmp_path: Path) -> None:
    """--jobs 2: the subset folders in two processes hold what one at a time writes."""
    command = [
        "benchmark", "--data", "phantom:n=40", "--classifiers", "svm", "--arms", "none,classic",
        "--fractions", "0.5", "--seeds", "2", "--size", "16", "--subset-seeds", "0,1,2",
    ]  # fmt: skip
    assert main([*command, "--out", str(tmp_path / "one")]) == 0
    assert main([*command, "--out", str(tmp_path / "two"), "--jobs", "2"]) == 0
    for seed in range(3):
        rows = [
            sorted(
                line.rsplit(",", 1)[0]  # all but the cell's seconds
                for line in (tmp_path / run / f"subset-{seed}" / "results.csv")
                .read_text()
                .splitlines()
            )
            for run in ("one", "two")
        ]
        assert rows[0] == rows[1] and len(rows[0]) > 1
    pooled = [json.loads((tmp_path / run / "pooled.json").read_text()) for run in ("one", "two")]
    assert pooled[0]["entries"] == pooled[1]["entries"]


def _subsets_bar(monkeypatch: pytest.MonkeyPatch) -> dict:
    """The subsets bar's `initial` and the subsets its update() counted, on the next run."""
    seen = {"initial": None, "counted": 0}

    def spy(*args: object, **kwargs: object) -> object:
        bar = progress(*args, **kwargs)
        seen["initial"] = kwargs.get("initial", 0)
        update = bar.update

        def counted(n: int = 1) -> object:
            seen["counted"] += n
            return update(n)

        bar.update = counted
        return bar

    monkeypatch.setattr(subset_runs, "progress", spy)
    return seen


def test_a_resumed_run_counts_finished_folders_from_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rerun after a stop, the folders an earlier run finished are done at the bar's start:
    counted as they end (in seconds), they made the rate a subset every few seconds and the
    time left seconds while another folder's generator had hours to go."""
    out = tmp_path / "bench"
    command = [
        "benchmark", "--data", "phantom:n=40", "--classifiers", "svm", "--arms", "none,classic",
        "--fractions", "0.5", "--seeds", "2", "--size", "16", "--subset-seeds", "0,1,2",
        "--jobs", "2", "--out", str(out),
    ]  # fmt: skip
    assert main(command) == 0
    settings = BenchmarkSettings(
        data="phantom:n=40", classifiers=["svm"], fractions=[0.5], seeds=2, size=16
    )
    assert is_finished(settings, out / "subset-1")
    assert not is_finished(replace(settings, seeds=3), out / "subset-1")  # a seed more to run
    assert not is_finished(replace(settings, arms=["none", "classic", "copies"]), out / "subset-1")
    results = out / "subset-1" / "results.csv"
    lines = results.read_text().splitlines()
    results.write_text("\n".join(lines[:-1]) + "\n")  # the last cell cut off mid-write
    assert not is_finished(settings, out / "subset-1")

    seen = _subsets_bar(monkeypatch)
    assert main(command) == 0
    assert seen == {"initial": 2, "counted": 1}  # subsets 0 and 2 at the start, 1 as it ended
    assert is_finished(settings, out / "subset-1")
    seen = _subsets_bar(monkeypatch)
    assert main(command) == 0
    assert seen == {"initial": 3, "counted": 0}


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--subset-seeds", "0,0"], "2 different"),
        (["--subset-seeds", "0,x"], "integers"),
        (["--subset-seeds", "0,1", "--subset-seed", "3"], "not both"),
        (["--subset-seeds", "0,-1"], "0 or more"),
        (["--stack-generators"], "give --subset-seeds too"),
        (["--subset-seeds", "0,1", "--jobs", "0"], "at least 1"),
    ],
)
def test_bad_subset_seeds_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str], words: str
) -> None:
    command = ["benchmark", "--data", "phantom:n=24", "--out", str(tmp_path / "b"), *extra]
    assert main(command) != 0
    assert words in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_subset_seeds_refuse_a_run_folder_arm(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "split.csv").write_text("id,split\n")
    command = ["benchmark", "--data", "phantom:n=24", "--out", str(tmp_path / "b")]
    assert main([*command, "--arms", f"none,{run}", "--subset-seeds", "0,1"]) != 0
    assert "trained on one subset" in capsys.readouterr().err


def test_against_pools_the_per_subset_differences(tmp_path: Path) -> None:
    folders, others = [], []
    for seed, (mine, theirs) in enumerate([(0.03, 0.01), (0.02, 0.01), (0.05, 0.02)]):
        for name, gain, group in (("a", mine, folders), ("b", theirs, others)):
            folder = tmp_path / f"{name}{seed}"
            folder.mkdir()
            (folder / "summary.json").write_text(json.dumps(_summary(seed, {"accuracy": gain})))
            group.append(folder)
    write_pooled(tmp_path / "out", folders, others)
    (entry,) = json.loads((tmp_path / "out" / "pooled.json").read_text())["entries"]
    assert entry["gain"]["accuracy"]["per_subset"] == pytest.approx([0.02, 0.01, 0.03])
    assert "minus the gain in" in (tmp_path / "out" / "pooled.md").read_text()
    with pytest.raises(GaunetError, match="same order"):
        write_pooled(tmp_path / "bad", folders, others[::-1])
    with pytest.raises(GaunetError, match="--against gives 2 folders for 3 --benchmarks"):
        write_pooled(tmp_path / "bad", folders, others[:2])  # was: "2 or more" of --against


@pytest.mark.parametrize("differ", ["split.csv", "data"])
def test_against_refuses_folders_of_other_images(tmp_path: Path, differ: str) -> None:
    """A lever's folders against folders of another dataset or split (same subset seeds):
    each difference compared two training sets, and pool printed it as the lever's effect."""
    folders, others = [], []
    for seed in (0, 1):
        for name, group in (("a", folders), ("b", others)):
            folder = tmp_path / f"{name}{seed}"
            folder.mkdir()
            summary = _summary(seed, {"accuracy": 0.01})
            if differ == "data" and name == "b":
                summary["settings"]["data"] = "other.npz"
            if differ == "split.csv":
                (folder / "split.csv").write_text(
                    f"id,split\nx,{'train' if name == 'a' else 'test'}\n"
                )
            (folder / "summary.json").write_text(json.dumps(summary))
            group.append(folder)
    with pytest.raises(
        GaunetError,
        match=f"its {'split.csv' if differ == 'split.csv' else 'data and split seed'} differs",
    ):
        write_pooled(tmp_path / "out", folders, others)
    assert not (tmp_path / "out").exists()
