"""gaunet/io.py: the one atomic write, JSON writing and settings pinning every command uses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gaunet.errors import GaunetError
from gaunet.io import pin_settings, write_atomic, write_json, write_npz


def test_write_atomic_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    write_atomic(path, b"one")
    write_atomic(path, b"two", durable=False)
    assert path.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_write_json_takes_numpy_and_paths(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "x.json"
    write_json(path, {"n": np.int64(3), "f": np.float32(0.5), "a": np.arange(2), "p": Path("q")})
    assert json.loads(path.read_text()) == {"n": 3, "f": 0.5, "a": [0, 1], "p": "q"}


def test_write_json_refuses_unknown_objects_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    write_json(path, {"ok": 1})
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": 1}


@pytest.mark.parametrize(
    ("saved", "record", "refused"),
    [
        (None, {"seed": 1, "size": 28}, False),  # a new folder
        ({"seed": 1, "size": 28}, {"seed": 1, "size": 28}, False),  # the same settings
        ({"seed": 1, "size": 28}, {"seed": 2, "size": 28}, True),  # a pinned one changed
        ({"seed": 1, "size": 28, "threads": 2}, {"seed": 1, "size": 28, "threads": 1}, False),
        ({"seed": 1}, {"seed": 1, "size": 64}, True),  # missing = its default (32), now 64
        ({"seed": 1}, {"seed": 1, "size": 32}, False),
    ],
)
def test_pin_settings(tmp_path: Path, saved, record, refused: bool) -> None:
    path = tmp_path / "run" / "settings.json"
    if saved is not None:
        write_json(path, saved)
    pinned, defaults = ("seed", "size"), {"size": 32}
    if refused:
        with pytest.raises(GaunetError, match="was run with other"):
            pin_settings(path, record, pinned, defaults)
        assert json.loads(path.read_text()) == saved  # nothing already there is lost
    else:
        assert pin_settings(path, record, pinned, defaults) == {**(saved or {}), **record}
        assert json.loads(path.read_text()) == {**(saved or {}), **record}


def test_pin_settings_under_a_key_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    """A state file records progress beside its settings (demo.json: "steps")."""
    path = tmp_path / "demo" / "demo.json"
    write_json(path, {"settings": {"seed": 1, "threads": 2}, "steps": {"train": {"seconds": 3}}})
    merged = pin_settings(path, {"seed": 1, "threads": 1}, ("seed",), key="settings")
    expected = {"settings": {"seed": 1, "threads": 1}, "steps": {"train": {"seconds": 3}}}
    assert merged == expected
    assert json.loads(path.read_text()) == expected
    with pytest.raises(GaunetError, match=r"demo: this folder was run with other seed"):
        pin_settings(path, {"seed": 2, "threads": 1}, ("seed",), key="settings")
    assert json.loads(path.read_text()) == expected  # nothing already there is lost
    fresh = tmp_path / "new" / "demo.json"
    assert pin_settings(fresh, {"seed": 5}, ("seed",), key="settings") == {"settings": {"seed": 5}}


@pytest.mark.parametrize("compress", [False, True])
def test_write_npz_round_trips_under_the_exact_name(tmp_path: Path, compress: bool) -> None:
    path = tmp_path / "rows.npz"
    write_npz(path, compress=compress, images=np.arange(6).reshape(2, 3), names=np.asarray(["a"]))
    with np.load(path, allow_pickle=False) as archive:
        assert archive["images"].tolist() == [[0, 1, 2], [3, 4, 5]]
        assert archive["names"].tolist() == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["rows.npz"]


def test_write_npz_streams_into_the_file_and_cleans_up_on_failure(
    tmp_path: Path, monkeypatch
) -> None:
    """numpy writes the archive straight into the temporary file (no in-memory copy of the
    whole archive), and an error mid-write leaves neither a temporary nor a partial file."""
    targets = []
    savez = np.savez

    def spy(target, **arrays):
        targets.append(target)
        return savez(target, **arrays)

    monkeypatch.setattr(np, "savez", spy)
    path = tmp_path / "rows.npz"
    write_npz(path, images=np.zeros((2, 2)))
    assert hasattr(targets[0], "fileno") and targets[0].name.startswith(str(tmp_path))

    def broken(target, **arrays):
        target.write(b"PK partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="No space left"):
        write_npz(tmp_path / "other.npz", images=np.zeros((2, 2)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.npz"]


def test_pin_settings_takes_another_name_of_the_same_file_as_unchanged(
    tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "data.npz").write_bytes(b"x")
    (tmp_path / "copy.npz").write_bytes(b"x")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    path = tmp_path / "run" / "settings.json"
    pin_settings(path, {"data": "../data.npz"}, ("data",), paths=("data",))
    absolute = {"data": str(tmp_path / "data.npz")}
    assert pin_settings(path, absolute, ("data",), paths=("data",)) == {"data": "../data.npz"}
    with pytest.raises(GaunetError, match="was run with other data"):  # same bytes, other file
        pin_settings(path, {"data": str(tmp_path / "copy.npz")}, ("data",), paths=("data",))
    with pytest.raises(GaunetError, match="was run with other data"):  # without `paths`: names
        pin_settings(path, absolute, ("data",))


def test_pin_settings_takes_a_carried_config_that_resolves_the_same_as_unchanged(
    tmp_path: Path,
) -> None:
    """A folder and its config file carried to another machine (the recorded name leads
    nowhere): a config at another path with the same settings continues it, keeping the
    recorded name; one with other settings is refused, and so is any other name when the
    folder's file predates the resolved record."""
    from gaunet.downstream.benchmark import generator_settings

    first, second = tmp_path / "gpu" / "gen.yaml", tmp_path / "carried" / "gen.yaml"
    first.parent.mkdir()
    first.write_text("model: gaunet\nbatch_size: 128\n")
    path = tmp_path / "folder" / "benchmark.json"
    resolved = {"gen_config": generator_settings}

    def pin(config: Path) -> dict:
        return pin_settings(path, {"gen_config": str(config)}, ("gen_config",), resolved=resolved)

    recorded = pin(first)
    assert recorded["gen_config_resolved"]["batch_size"] == 128
    first.write_text("model: gaunet\nbatch_size: 64\n")  # edited in place: was not refused
    with pytest.raises(GaunetError, match="other gen_config settings .the file was edited"):
        pin(first)
    first.write_text("model: gaunet\nbatch_size: 128\n")
    assert pin(first) == recorded
    first.unlink()
    second.parent.mkdir()
    second.write_text("batch_size: 128\nmodel: gaunet\n")  # the same settings, written otherwise
    assert pin(second)["gen_config"] == str(first)
    second.write_text("model: gaunet\nbatch_size: 64\n")
    with pytest.raises(GaunetError, match="was run with other gen_config"):
        pin(second)
    assert json.loads(path.read_text()) == recorded  # nothing already there is lost
    older = {k: v for k, v in recorded.items() if k != "gen_config_resolved"}
    write_json(path, older)
    second.write_text("model: gaunet\nbatch_size: 128\n")
    with pytest.raises(GaunetError, match="was run with other gen_config"):
        pin(second)


@pytest.mark.parametrize("content", ['{"data": "phan', "", "[1, 2]"])
def test_a_torn_settings_record_is_one_line_for_every_folder_kind(tmp_path, content):
    """benchmark.json and demo.json go through pin_settings: a torn, empty or non-object file
    was a JSONDecodeError (or AttributeError) traceback on the rerun."""
    path = tmp_path / "demo.json"
    path.write_text(content)
    with pytest.raises(GaunetError, match="demo.json: (cannot read it|not a settings record)"):
        pin_settings(path, {"seed": 1}, ["seed"], key="settings")
    assert path.read_text() == content


def test_two_writers_of_one_file_in_one_process_do_not_share_a_temporary(tmp_path) -> None:
    """Named by pid alone, the second writer (another thread) truncated the first's temporary
    and renamed it away, and the first failed with FileNotFoundError."""
    from gaunet.io import atomic_file

    path = tmp_path / "entry.npz"
    with atomic_file(path, durable=False) as first:
        first.write(b"first")
        with atomic_file(path, durable=False) as second:
            second.write(b"second")
        assert path.read_bytes() == b"second"
    assert path.read_bytes() == b"first"
    assert not list(tmp_path.glob(".*.tmp*"))


def test_finite_values_make_strict_json() -> None:
    """summary.json, pooled.json and evaluate --json: NaN and inf (in numpy scalars, tuples and
    arrays too) are null, so strict readers (jq, JavaScript) take the file."""
    import json

    import numpy as np

    from gaunet.io import finite_values, jsonable

    value = {"a": float("nan"), "b": [1.0, float("inf")], "c": (np.float32("-inf"), 2),
             "d": np.array([np.nan, 3.0]), "e": {"f": np.float64(0.5)}}  # fmt: skip
    text = json.dumps(finite_values(value), default=jsonable, allow_nan=False)
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": [None, 2], "d": [None, 3.0],
                                "e": {"f": 0.5}}  # fmt: skip
