"""`gaunet train --set compile=true` where torch's compiler fails (Inductor on the CPU, torch
2.13, the cpu-tiny generator at 32 px): one line naming the failure and what to do, not a
traceback from inside torch. The failure is simulated: compiling for real takes minutes."""

from __future__ import annotations

import pytest

from gaunet.cli import main


class InductorError(Exception):
    """Stands in for torch._inductor.exc.InductorError (matched by its module)."""


InductorError.__module__ = "torch._inductor.exc"


def test_a_compiler_failure_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    def failing_train(*args, **kwargs):
        raise InductorError("TypeError: Cannot convert expression to float\nmore detail")

    monkeypatch.setattr("gaunet.training.train", failing_train)
    command = ["train", "--data", "phantom:n=20", "--out", str(tmp_path / "run"), "--quiet",
               "--set", "compile=true", "--steps", "1"]  # fmt: skip
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "torch.compile failed on this model (InductorError: TypeError: Cannot convert" in err
    assert "train without --set compile=true" in err and "Traceback" not in err


def test_other_errors_pass_through(monkeypatch) -> None:
    from gaunet.cli.train import compile_failure_said

    with pytest.raises(ValueError, match="not the compiler"), compile_failure_said():
        raise ValueError("not the compiler")
