"""A checkpoint crafted to run code when unpickled (a real payload that creates a file) is
refused by every public entry point that reads checkpoints, with one clear GaunetError line, and
the payload never runs."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from train_helpers import tiny_train

from gaunet import load_generator
from gaunet.cli import main as cli_main
from gaunet.errors import GaunetError
from gaunet.training import train
from gaunet.training.checkpoint import load_checkpoint


class _Payload:
    """Unpickling this calls os.system or exec: the classic pickle attack."""

    def __init__(self, marker: Path, via: str) -> None:
        self.marker, self.via = marker, via

    def __reduce__(self):
        if self.via == "system":
            return (os.system, (f"touch '{self.marker}'",))
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def _malicious_bytes(marker: Path, via: str, container: str) -> bytes:
    state = {"step": 1, "generator": _Payload(marker, via), "class_names": ["a", "b"]}
    if container == "pickle":
        return pickle.dumps(state, protocol=2)  # the protocol torch.save uses
    buffer = io.BytesIO()
    torch.save(state, buffer, _use_new_zipfile_serialization=container == "zip")
    return buffer.getvalue()


def _plant(path: Path, data: bytes) -> Path:
    """The file with a matching sha256 sidecar: an attacker can write both."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    sidecar = path.with_name(path.name + ".sha256")
    sidecar.write_text(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_train(tmp_path_factory.mktemp("safe") / "run", steps=2)


def test_payload_is_live_under_plain_pickle(tmp_path):
    """The test payload really does create its file when unpickled without restrictions."""
    for via in ("system", "exec"):
        marker = tmp_path / f"live-{via}"
        pickle.loads(_malicious_bytes(marker, via, "pickle"))
        assert marker.exists()


@pytest.mark.parametrize("container", ["zip", "legacy", "pickle"])
@pytest.mark.parametrize("via", ["system", "exec"])
def test_load_checkpoint_and_load_generator_refuse(tmp_path, container, via):
    marker = tmp_path / "pwned"
    evil = _plant(
        tmp_path / "run" / "checkpoints" / "last.pt", _malicious_bytes(marker, via, container)
    )
    with pytest.raises(GaunetError, match="refused, possibly malicious") as error:
        load_checkpoint(evil)
    assert "\n" not in str(error.value) and "weights_only=False" not in str(error.value)
    with pytest.raises(GaunetError, match="refused, possibly malicious"):
        load_generator(evil)
    with pytest.raises(GaunetError, match="refused, possibly malicious"):
        load_generator(tmp_path / "run")  # a run folder: its newest good checkpoint
    assert not marker.exists()


def test_cli_generate_with_malicious_checkpoint_refuses(run, tmp_path, capsys):
    marker = tmp_path / "pwned"
    copy = tmp_path / "run"  # a checkpoint is taken from its own run folder only
    shutil.copytree(run, copy)
    evil = _plant(copy / "checkpoints" / "evil.pt", _malicious_bytes(marker, "system", "zip"))
    out = tmp_path / "out"
    command = ["generate", "--run", str(copy), "--out", str(out), "--per-class", "1"]
    assert cli_main([*command, "--checkpoint", str(evil)]) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("gaunet generate: error:") and "refused" in message
    assert len(message.splitlines()) == 1
    assert not marker.exists() and not list(out.rglob("*.png"))


def test_resume_with_only_a_malicious_checkpoint_refuses(run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    for old in (copy / "checkpoints").iterdir():
        old.unlink()
    marker = tmp_path / "pwned"
    _plant(copy / "checkpoints" / "last.pt", _malicious_bytes(marker, "exec", "zip"))
    with pytest.raises(GaunetError, match="refused, possibly malicious"):
        train(None, copy, steps=3, resume=True, progress=False)
    assert cli_main(["train", "--out", str(copy), "--resume", "--steps", "3", "--quiet"]) == 2
    assert "refused, possibly malicious" in capsys.readouterr().err
    assert not marker.exists()


def test_resume_skips_a_malicious_newest_checkpoint_with_a_warning(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    good = copy / "checkpoints" / "step-000002.pt"
    shutil.copy(copy / "checkpoints" / "last.pt", good)
    shutil.copy(copy / "checkpoints" / "last.pt.sha256", good.with_name(good.name + ".sha256"))
    marker = tmp_path / "pwned"
    _plant(copy / "checkpoints" / "last.pt", _malicious_bytes(marker, "system", "legacy"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(None, copy, steps=3, resume=True, progress=False)
    assert any("last.pt: refused, possibly malicious" in str(w.message) for w in caught)
    assert not marker.exists()
    state, loaded, _ = load_checkpoint(copy / "checkpoints" / "last.pt")
    assert state["step"] == 3 and loaded.name == "last.pt"  # overwritten by a clean one
