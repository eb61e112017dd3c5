"""`gaunet demo --data auto`: BreastMNIST when a copy is found, else the phantom, said plainly."""

from __future__ import annotations

from pathlib import Path

import pytest

from gaunet.demo import resolve_demo_data
from gaunet.demo import settings as demo


def test_explicit_data_is_kept() -> None:
    assert resolve_demo_data("phantom:n=30")[0] == "phantom:n=30"


def test_auto_takes_the_environment_copy_first(tmp_path: Path, monkeypatch) -> None:
    copy = tmp_path / "breastmnist.npz"
    copy.write_bytes(b"")
    monkeypatch.setenv("GAUNET_DEMO_DATA", str(copy))
    source, note = resolve_demo_data("auto")
    assert source == str(copy)
    assert "BreastMNIST" in note and "CC BY 4.0" in note


def test_auto_takes_a_folder_in_the_environment_too(tmp_path: Path, monkeypatch) -> None:
    """`$GAUNET_DEMO_DATA=/data/medmnist` (the folder holding it) was taken as the file itself."""
    (tmp_path / "breastmnist.npz").write_bytes(b"")
    monkeypatch.setenv("GAUNET_DEMO_DATA", str(tmp_path))
    assert resolve_demo_data("auto")[0] == str(tmp_path / "breastmnist.npz")


@pytest.mark.parametrize("found", [0, 1, 2])
def test_auto_takes_the_first_existing_candidate(tmp_path: Path, monkeypatch, found: int) -> None:
    candidates = [tmp_path / f"c{k}" / "breastmnist.npz" for k in range(3)]
    for path in candidates[found:]:
        path.parent.mkdir()
        path.write_bytes(b"")
    monkeypatch.setattr(demo, "demo_data_candidates", lambda: candidates)
    assert resolve_demo_data("auto")[0] == str(candidates[found])


def test_auto_without_a_copy_falls_back_to_the_phantom_and_says_so(tmp_path, monkeypatch) -> None:
    missing = [tmp_path / "nowhere" / "breastmnist.npz"]
    monkeypatch.setattr(demo, "demo_data_candidates", lambda: missing)
    source, note = resolve_demo_data("auto")
    assert source == "phantom"
    assert "phantom" in note and str(missing[0]) in note and "--data" in note


def test_candidates_include_the_medmnist_download_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("GAUNET_DEMO_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert tmp_path / ".medmnist" / "breastmnist.npz" in demo.demo_data_candidates()


SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "breastmnist.npz"


@pytest.mark.skipif(not SHARED.is_file(), reason="../shared/data/breastmnist.npz is absent")
def test_a_source_checkout_finds_the_shared_copy(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("GAUNET_DEMO_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert resolve_demo_data("auto")[0] == str(SHARED)
