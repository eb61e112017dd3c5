import pytest
import torch

from gaunet.training.checkpoint import (
    CheckpointError,
    all_finite,
    load_checkpoint,
    prune_periodic,
    save_checkpoint,
    sha256_file,
)


def _state(step, value=1.0):
    return {"step": step, "weights": {"w": torch.full((3,), value)}, "rng": torch.get_rng_state()}


def test_save_writes_sidecar_and_loads_with_weights_only(tmp_path):
    path = tmp_path / "last.pt"
    digest = save_checkpoint(_state(5), [path])
    assert sha256_file(path) == digest
    assert (tmp_path / "last.pt.sha256").read_text().split()[0] == digest
    state, loaded, sha = load_checkpoint(path)
    assert state["step"] == 5 and loaded == path and sha == digest
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


@pytest.mark.parametrize("damage", ["truncate", "flip", "sidecar"])
def test_corrupt_newest_falls_back_to_previous_with_warning(tmp_path, damage):
    save_checkpoint(_state(10), [tmp_path / "step-000010.pt"])
    save_checkpoint(_state(20, 2.0), [tmp_path / "last.pt", tmp_path / "step-000020.pt"])
    last = tmp_path / "last.pt"
    data = last.read_bytes()
    if damage == "truncate":
        last.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        last.write_bytes(data[:-10] + bytes(10))
    else:
        (tmp_path / "last.pt.sha256").write_text("0" * 64 + "  last.pt\n")
    with pytest.warns(UserWarning, match="last.pt"):
        state, loaded, _ = load_checkpoint(tmp_path)
    assert loaded.name == "step-000020.pt" and state["step"] == 20


def test_no_usable_checkpoint_is_an_error(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        load_checkpoint(tmp_path / "empty")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"hello\n", "not a PyTorch checkpoint file"),  # was "(last.pt: 101)", torch's KeyError
        (b"\x89PNG\r\n\x1a\n" + bytes(40), "not a PyTorch checkpoint file"),  # was "malicious"
        (b'{"step": 1}', "not a PyTorch checkpoint file"),  # was "possibly malicious"
        (b"", "empty file"),  # was "unreadable"
    ],
)
def test_a_file_that_is_no_checkpoint_says_so(tmp_path, content, reason):
    (tmp_path / "last.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match=f"last.pt: {reason}"):
        load_checkpoint(tmp_path / "last.pt")


def test_prune_keeps_newest_periodic(tmp_path):
    for step in (10, 20, 30):
        save_checkpoint(_state(step), [tmp_path / f"step-{step:06d}.pt"])
    save_checkpoint(_state(30), [tmp_path / "last.pt"])
    prune_periodic(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == [
        "last.pt", "step-000020.pt", "step-000030.pt"
    ]  # fmt: skip


def test_all_finite_detects_nan_anywhere():
    assert all_finite(_state(1))
    assert not all_finite({"a": [{"b": torch.tensor([1.0, float("nan")])}]})
    assert all_finite({"n": torch.tensor([1, 2])})
