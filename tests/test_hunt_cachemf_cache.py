"""Where the decoded-image cache lives when $GAUNET_CACHE is written with `~`."""

from __future__ import annotations

from pathlib import Path

from data_helpers import make_tree

from gaunet.data import load_source
from gaunet.data.cache import cache_dir


def test_a_cache_folder_given_with_a_tilde_is_under_home_not_a_folder_named_tilde(
    tmp_path, monkeypatch
):
    """`GAUNET_CACHE="~/scratch"` (quoted, or from a .env file or `docker -e`, where no shell
    expands it) made a folder named `~` in the working directory, maybe inside a dataset."""
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GAUNET_CACHE", "~/scratch/gaunet")
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")
    monkeypatch.chdir(work)
    assert cache_dir() == home / "scratch" / "gaunet"
    data = load_source(make_tree(tmp_path / "data", {"a": 2, "b": 2}), size=16)
    assert Path(data.info["cache"]).parent == home / "scratch" / "gaunet"
    assert not (work / "~").exists()


def test_the_domain_classifiers_cache_reads_the_tilde_the_same(tmp_path, monkeypatch):
    from gaunet.metrics.features.domain import cache_root

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GAUNET_CACHE", "~/scratch/gaunet")
    assert cache_root() == tmp_path / "home" / "scratch" / "gaunet" == cache_dir()
