"""`gaunet pool`: what it leaves out or mixes must be said in pooled.md, not dropped silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gaunet.downstream.pooled import write_pooled
from gaunet.errors import GaunetError


def _entry(arm: str, gain: float, **extra: dict) -> dict:
    stat = {"accuracy": {"mean": gain}, "auc": {"mean": gain}}
    return {"classifier": "resnet18", "fraction": 0.25, "arm": arm, "gain": stat, **extra}


def _folder(path: Path, seed: int, entries: list[dict], seeds: int = 10) -> Path:
    path.mkdir(parents=True)
    settings = {"data": "x.npz", "subset_seed": seed, "seeds": seeds}
    (path / "summary.json").write_text(json.dumps({"settings": settings, "entries": entries}))
    return path


def test_against_names_arms_the_against_folders_lack(tmp_path: Path) -> None:
    """An arm in every --benchmarks folder but in no --against folder was dropped from the
    differences without a word: pooled.md read as if the lever had been compared on all."""
    folders = [
        _folder(tmp_path / f"a{s}", s, [_entry("classic", 0.02 + s / 100), _entry("gaunet", 0.01)])
        for s in (0, 1)
    ]
    others = [_folder(tmp_path / f"b{s}", s, [_entry("classic", 0.01)]) for s in (0, 1)]
    text = write_pooled(tmp_path / "out", folders, others).read_text()
    assert "Not pooled (absent from some folders): resnet18 f=0.25 gaunet." in text


def test_a_comparison_some_folders_lack_is_named(tmp_path: Path) -> None:
    """gaunet's `vs typical copies` where one folder ran no typical-copies arm: the row was
    pooled on the other comparisons and this one vanished unnamed."""
    vs_typical = {"gain_vs_typical_copies": {"accuracy": {"mean": 0.01}}}
    folders = [
        _folder(tmp_path / "s0", 0, [_entry("gaunet", 0.01, **vs_typical)]),
        _folder(tmp_path / "s1", 1, [_entry("gaunet", 0.02)]),
    ]
    text = write_pooled(tmp_path / "out", folders).read_text()
    assert "Not pooled (no mean gain in some folders): resnet18 f=0.25 gaunet vs typical" in text
    record = json.loads((tmp_path / "out" / "pooled.json").read_text())
    assert record["entries"][0]["unpooled"] == ["vs typical copies accuracy"]


def test_different_numbers_of_classifier_seeds_are_stated(tmp_path: Path) -> None:
    folders = [
        _folder(tmp_path / "s0", 0, [_entry("gaunet", 0.01)], seeds=10),
        _folder(tmp_path / "s1", 1, [_entry("gaunet", 0.03)], seeds=3),
    ]
    text = write_pooled(tmp_path / "out", folders).read_text()
    assert "different numbers of classifier seeds (subset 0: 10, subset 1: 3)" in text
    same = [_folder(tmp_path / f"t{s}", s, [_entry("gaunet", 0.01 * s)]) for s in (0, 1)]
    assert "different numbers" not in write_pooled(tmp_path / "out2", same).read_text()


def test_against_with_other_seed_counts_is_stated(tmp_path: Path) -> None:
    folders = [_folder(tmp_path / f"a{s}", s, [_entry("gaunet", 0.01 * s)]) for s in (0, 1)]
    others = [
        _folder(tmp_path / f"b{s}", s, [_entry("gaunet", 0.0)], seeds=5 if s else 10)
        for s in (0, 1)
    ]
    text = write_pooled(tmp_path / "out", folders, others).read_text()
    assert "subset 0: 10, subset 1: 10 vs 5" in text
    assert "not paired by seed" in text


def test_a_folder_against_itself_is_refused(tmp_path: Path) -> None:
    """Every difference was 0 and pooled.md reported "the same gain" as if measured."""
    folders = [_folder(tmp_path / f"a{s}", s, [_entry("gaunet", 0.01 * s)]) for s in (0, 1)]
    with pytest.raises(GaunetError, match="is the --benchmarks folder it is paired with"):
        write_pooled(tmp_path / "out", folders, [folders[0], tmp_path / "a1" / ".." / "a1"])
    assert not (tmp_path / "out").exists()


def test_a_folder_whose_later_run_is_unfinished_is_named(tmp_path: Path) -> None:
    """benchmark.json rewritten by a later run (here 20 seeds) that was stopped: summary.json
    is still the earlier run's, and pool used it without a word."""
    folders = [_folder(tmp_path / f"s{s}", s, [_entry("gaunet", 0.01 * s)]) for s in (0, 1)]
    for folder in folders:  # a finished folder: benchmark.json is summary.json's settings
        settings = json.loads((folder / "summary.json").read_text())["settings"]
        (folder / "benchmark.json").write_text(json.dumps(settings, indent=2))
    assert "Unfinished" not in write_pooled(tmp_path / "out", folders).read_text()
    settings["seeds"] = 20
    (folders[1] / "benchmark.json").write_text(json.dumps(settings))
    text = write_pooled(tmp_path / "out2", folders).read_text()
    assert f"Unfinished: `{folders[1]}` began a later run" in text
