"""`gaunet benchmark --subset-seeds --stack-generators`: the subsets' generators trained at once
(training/stacked_loop.py) into the folders and records a benchmark reads, then the cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from downstream_helpers import one_quiet_thread, tiny_generator_config

from gaunet.cli import main
from gaunet.downstream.benchmark import BenchmarkSettings, train_generators_together


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    with one_quiet_thread(monkeypatch):
        yield


def _recording_train(calls: list[tuple]):
    """A train_together stand-in: records (data, outs, kwargs) and makes the folders."""

    def fake_train(data, outs, **kwargs):
        calls.append((data, outs, kwargs))
        for folder in outs:
            folder.mkdir(parents=True, exist_ok=True)
        return outs

    return fake_train


def _command(out: Path, config: Path) -> list[str]:
    return [
        "benchmark", "--data", "phantom:n=40,classes=2", "--out", str(out),
        "--classifiers", "svm", "--arms", "none,gaunet,gaunet+classic", "--fractions", "0.5",
        "--seeds", "1", "--size", "16", "--gen-config", str(config),
        "--subset-seeds", "0,1", "--stack-generators",
    ]  # fmt: skip


def test_stacked_generators_train_once_into_each_subset_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = tiny_generator_config(
        tmp_path / "tiny.yaml", steps=6, n_critic=2, log_every=2, sample_every=0,
        checkpoint_every=3, periodic_every=0,
    )  # fmt: skip
    out = tmp_path / "bench"
    assert main(_command(out, config)) == 0
    printed = capsys.readouterr().out
    assert "training 2 gaunet generators together" in printed
    runs = [out / f"subset-{s}" / "generators" / f"gaunet-f0.5-s{s}" for s in (0, 1)]
    infos = [json.loads((run / "run.json").read_text()) for run in runs]
    for k, (run, info) in enumerate(zip(runs, infos)):
        assert info["stacked"]["models"] == 2 and info["stacked"]["index"] == k
        assert info["seed"] == k and info["steps"] == 6 and info["status"] == "completed"
        record = json.loads((run.parent / f"gaunet-f0.5-s{k}.json").read_text())
        assert Path(record["run"]) == run
        rows = (run.parents[1] / "results.csv").read_text()
        assert ",gaunet,0.5," in rows and ",gaunet+classic,0.5," in rows
    # each generator trained on its own subset: their training rows differ
    splits = [(run / "split.csv").read_text() for run in runs]
    assert splits[0] != splits[1]
    assert (out / "pooled.md").is_file()
    # a rerun reuses the recorded generators: nothing trains again
    stamps = [(run / "checkpoints" / "last.pt").stat().st_mtime_ns for run in runs]
    assert main(_command(out, config)) == 0
    assert "generators together" not in capsys.readouterr().out
    assert [(run / "checkpoints" / "last.pt").stat().st_mtime_ns for run in runs] == stamps


def test_one_job_per_generator_folder_with_its_subset_seed(tmp_path: Path) -> None:
    """gaunet and gaunet+classic share one generator; each subset's job carries its seed and
    its own subset; the shared budget is passed on; the records make the folders reuse it."""
    calls: list[tuple] = []
    fake_train = _recording_train(calls)

    settings = BenchmarkSettings(
        data="phantom:n=40,classes=2",
        classifiers=["svm"],
        arms=["none", "gaunet", "gaunet+classic"],
        fractions=[0.5],
        seeds=1,
        size=16,
        gen_config="cpu-tiny",
        gen_minutes=2.0,
    )
    folders = {3: tmp_path / "subset-3", 5: tmp_path / "subset-5"}
    assert train_generators_together(settings, folders, train_fn=fake_train) == 2
    ((data, outs, kwargs),) = calls
    assert outs == [folders[3] / "generators" / "gaunet-f0.5-s3",
                    folders[5] / "generators" / "gaunet-f0.5-s5"]  # fmt: skip
    assert kwargs["seeds"] == [3, 5] and kwargs["minutes"] == 2.0 and kwargs["steps"] is None
    assert kwargs["overrides"]["size"] == 16 and kwargs["overrides"]["model"] == "gaunet"
    assert len(data[0]) == len(data[1]) > 0  # the same fraction of the same train split
    assert {str(i) for i in data[0].ids} != {str(i) for i in data[1].ids}
    for seed, folder in folders.items():
        assert (folder / "generators" / f"gaunet-f0.5-s{seed}.json").is_file()
    # recorded: a second call has nothing left to train
    assert train_generators_together(settings, folders, train_fn=fake_train) == 0
    assert len(calls) == 1


def test_fractions_that_share_a_folder_train_it_once(tmp_path: Path) -> None:
    """0.5 and 0.5000001 are one stored fraction (one generator folder), as run_benchmark
    keeps them: trained once, not twice into the same folders."""
    calls: list[tuple] = []
    fake_train = _recording_train(calls)

    settings = BenchmarkSettings(
        data="phantom:n=40,classes=2",
        classifiers=["svm"],
        arms=["none", "gaunet"],
        fractions=[0.5, 0.5000001],
        seeds=1,
        size=16,
        gen_config="cpu-tiny",
        gen_steps=2,
    )
    folders = {1: tmp_path / "subset-1", 2: tmp_path / "subset-2"}
    assert train_generators_together(settings, folders, train_fn=fake_train) == 2
    assert [outs for _, outs, _ in calls] == [[folders[1] / "generators" / "gaunet-f0.5-s1",
                      folders[2] / "generators" / "gaunet-f0.5-s2"]]  # fmt: skip
