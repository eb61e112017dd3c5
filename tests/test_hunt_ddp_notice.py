"""Under torchrun a Ctrl-C reaches every rank (the terminal's, then the agent's forward): the
"stopping" notice of noted_interrupts was printed by each rank, one line per process."""

from __future__ import annotations

import os
import signal

import pytest

from gaunet.interrupts import AGREED_STOP, noted_interrupts


@pytest.mark.parametrize("local_rank, printed", [("0", 1), ("1", 0)])
def test_the_agreed_stop_notice_is_one_line_per_machine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, local_rank: str, printed: int
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", local_rank)
    monkeypatch.setenv("LOCAL_RANK", local_rank)
    with noted_interrupts() as noted:
        os.kill(os.getpid(), signal.SIGINT)  # the terminal's Ctrl-C
        os.kill(os.getpid(), signal.SIGINT)  # torchrun's agent forwards it again
        assert noted()  # every rank still notes it: the stop is agreed on all of them
    assert capsys.readouterr().err.count(AGREED_STOP) == printed


@pytest.mark.parametrize("rank, printed", [("0", 1), ("1", 0)])
def test_the_command_says_interrupted_once_per_job(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, rank: str, printed: int
) -> None:
    """`gaunet train: interrupted` came from every rank of a torchrun job; rank 0 says it."""
    import argparse

    from gaunet.cli import _run

    def stopped(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setenv("RANK", rank)
    assert _run(argparse.Namespace(command="train", func=stopped)) == 130
    assert capsys.readouterr().err.count("gaunet train: interrupted") == printed
