"""--threads of `gaunet evaluate` and `gaunet generate` (default 0: torch's choice): torch's
default ignores a container's CPU limit, so it is capped at the CPUs this process may use, and
a negative count is refused before any work."""

from __future__ import annotations

import pytest
import torch

import gaunet.cpu_load as cpu_load
from gaunet.cli import main, use_thread_option
from gaunet.errors import GaunetWarning


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_torch_default_above_the_cpu_limit_is_capped(monkeypatch, torch_threads) -> None:
    """64 threads under `docker run --cpus 2` on a 64-core host: here 2 over a limit of 1."""
    torch.set_num_threads(2)
    monkeypatch.setattr(cpu_load, "usable_cpus", lambda: 1)
    with pytest.warns(GaunetWarning, match="more than the 1 CPU"):
        use_thread_option(0, "cpu", "gaunet evaluate")
    assert torch.get_num_threads() == 1


def test_a_count_is_applied(monkeypatch, torch_threads) -> None:
    monkeypatch.setattr(cpu_load, "usable_cpus", lambda: 8)
    use_thread_option(1, "cpu", "gaunet generate")
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "--real", "phantom:n=20", "--synthetic", "phantom:n=20"],
        ["generate", "--run", "no-such-run", "--out", "unused", "--per-class", "1"],
    ],
)
def test_a_negative_count_is_refused(command, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--threads", "-1", "--device", "cpu"]) == 2
    assert "--threads must be at least 0" in capsys.readouterr().err
    assert not (tmp_path / "unused").exists()
