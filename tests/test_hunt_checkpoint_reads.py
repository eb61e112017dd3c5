"""A checkpoint read while the trainer saves over it (`gaunet generate --run` or a snapshot
selection during training: readers take no lock). The save is atomic, so the reader must get
one whole checkpoint, the digest returned must be that checkpoint's, and a good newest file must
never be skipped for an older one."""

from __future__ import annotations

import hashlib
import warnings

import torch

import gaunet.training.checkpoint as checkpoint
from gaunet.training.checkpoint import load_checkpoint, save_checkpoint


def _state(step: int) -> dict:
    return {"step": step, "w": torch.full((64,), float(step))}


def _folder_with_two_checkpoints(tmp_path) -> tuple:
    folder = tmp_path / "checkpoints"
    digests = {1: save_checkpoint(_state(1), [folder / "step-000001.pt"])}
    digests[2] = save_checkpoint(_state(2), [folder / "last.pt"])
    return folder, digests


def test_a_save_between_hashing_and_the_sidecar_is_no_reason_to_fall_back(tmp_path, monkeypatch):
    """The reader hashed last.pt (step 2); the trainer then saved step 3 (sidecar removed, file
    renamed, new sidecar). The old sidecar-vs-file comparison called that a sha256 mismatch and
    fell back to the older periodic file (a warning, and step 1 sampled instead of step 3)."""
    folder, digests = _folder_with_two_checkpoints(tmp_path)
    real_sha256 = hashlib.sha256
    pending = {"save": True}

    class SaveWhenHashed:
        def __init__(self, *args):
            self.inner = real_sha256(*args)

        def update(self, data):
            self.inner.update(data)

        def hexdigest(self):
            value = self.inner.hexdigest()
            if pending.pop("save", False):  # once: the trainer's save lands now
                digests[3] = save_checkpoint(_state(3), [folder / "last.pt"])
            return value

    monkeypatch.setattr(hashlib, "sha256", SaveWhenHashed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback warns
        state, loaded, digest = load_checkpoint(folder)
    assert not pending, "the save was not triggered"
    assert loaded.name == "last.pt" and state["step"] == 3
    assert digest == digests[3]

    # the re-read is for a file replaced under the reader, not for one that stays wrong
    monkeypatch.setattr(hashlib, "sha256", real_sha256)
    data = bytearray((folder / "last.pt").read_bytes())
    data[-40] ^= 0xFF
    (folder / "last.pt").write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state, loaded, _ = load_checkpoint(folder)
    assert loaded.name == "step-000001.pt" and state["step"] == 1
    assert any("last.pt: sha256 mismatch" in str(w.message) for w in caught)


def test_the_digest_returned_is_the_digest_of_the_state_returned(tmp_path, monkeypatch):
    """A save that lands after the file was hashed and checked, while it is being loaded: the
    old code hashed one file and torch.load-ed another (the new one), so generated images
    recorded the digest of a checkpoint they were not made from."""
    folder, digests = _folder_with_two_checkpoints(tmp_path)
    real_load = torch.load
    pending = {"save": True}

    def load_after_a_save(*args, **kwargs):
        if pending.pop("save", False):
            digests[3] = save_checkpoint(_state(3), [folder / "last.pt"])
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", load_after_a_save)
    monkeypatch.setattr(checkpoint.torch, "load", load_after_a_save)
    state, loaded, digest = load_checkpoint(folder)
    assert not pending, "the save was not triggered"
    assert loaded.name == "last.pt"
    assert digest == digests[state["step"]], (state["step"], digest[:12])
