"""A stop-and-continue (SIGCONT) that reaches a bar already closed must leave it readable."""

from __future__ import annotations

import signal

import pytest

from gaunet.progress import _on_sigcont, progress


def test_sigcont_after_close_keeps_the_bar_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAUNET_NO_PROGRESS", raising=False)
    bar = progress(total=10, desc="train", unit="step")
    bar.update(3)
    bar.close()  # tqdm replaces the closed bar's seconds average with `lambda: None`
    _on_sigcont(signal.SIGCONT, None)
    assert bar.format_dict["n"] == 3  # raised TypeError: <lambda>() takes 0 arguments
    assert "3/10" in str(bar)


def test_sigcont_still_drops_the_paused_interval_of_an_open_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GAUNET_NO_PROGRESS", raising=False)
    with progress(total=100, desc="train", unit="step") as bar:
        bar._ema_dn(2.0), bar._ema_dt(1.0)  # 2 steps/s so far
        _on_sigcont(signal.SIGCONT, None)
        bar._ema_dn(1.0), bar._ema_dt(3600.0)  # the interval that held an hour's pause
        assert bar.format_dict["rate"] == pytest.approx(2.0)
