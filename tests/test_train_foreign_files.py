"""A new run into an existing folder that holds files of the names a run writes (config.yaml,
split.csv, samples/, ...) but is not a run's is refused before anything is read or written: a
user's own files are never replaced. An earlier run stopped before its first checkpoint is a
run's folder, and a new run replaces it as before."""

from __future__ import annotations

import pytest
from train_helpers import TINY

from gaunet.errors import GaunetError
from gaunet.training import train, train_together


@pytest.mark.parametrize("name", ["config.yaml", "split.csv", "run.json", "samples"])
def test_a_users_file_of_a_run_name_is_kept(tmp_path, name) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    mine = out / name
    if name == "samples":
        mine.mkdir()
        (mine / "figure.png").write_bytes(b"mine")
    else:
        mine.write_text("mine\n")
    (out / "notes.txt").write_text("notes\n")
    with pytest.raises(GaunetError, match=rf"--out .*mine: holds {name}/?, not from a gaunet run"):
        train("phantom:n=20", out, overrides=TINY, steps=1, progress=False)
    assert sorted(p.name for p in out.iterdir()) == sorted([name, "notes.txt"])
    with pytest.raises(GaunetError, match="not from a gaunet run"):
        train_together(["phantom:n=20"], [out], overrides=TINY, steps=1, progress=False)
    assert sorted(p.name for p in out.iterdir()) == sorted([name, "notes.txt"])


def test_unrelated_files_and_an_unfinished_run_are_fine(tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("notes\n")
    train("phantom:n=20", out, overrides=TINY, steps=1, progress=False)
    assert (out / "notes.txt").read_text() == "notes\n" and (out / "run.json").is_file()
    # stopped before its first checkpoint: the folder is a run's, and a new run replaces it
    for checkpoint in (out / "checkpoints").iterdir():
        checkpoint.unlink()
    train("phantom:n=20", out, overrides=TINY, steps=1, progress=False)
    assert any((out / "checkpoints").iterdir())
