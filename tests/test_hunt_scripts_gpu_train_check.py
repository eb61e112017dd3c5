"""benchmarks/gpu_train_check.py, what would have wasted the one GPU run: stage order, a setup
checked before any stage, a stage's exception, the budget, and what OUT can bring back from a
device machine (8 files, 16 MiB each, two folders down)."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_train_check as g  # noqa: E402

# the doc's skip list (docs/performance.md, "The next GPU session")
DOC_SKIP = (
    "norm-28,norm-256,stacked-b16,stacked-b128,paper256-b32,tiny28-b256,tiny28-b512,"
    "paper28-b64-bf16,table3-busi,concurrent-4,concurrent-2,paper28-b64,tiny28,tiny28-b128,"
    "paper28-b64-autotune,tiny28-fp32,paper28-b64-eager,benchmark"
)
STAGE_METHODS = ("pytest", "item5", "stacked_train", "penalty_norm", "stacked", "train")
STAGE_METHODS += ("table3", "benchmark")


def _record_stages(monkeypatch, calls: list[str], raising: str | None = None) -> None:
    """Every stage method of Check only notes its call (and `raising` raises)."""
    for method in STAGE_METHODS:

        def fake(self, *args, _method=method, **kwargs):
            calls.append(_method)
            if _method == raising:
                raise ValueError("boom")

        monkeypatch.setattr(g.Check, method, fake)


def _main(monkeypatch, argv: list[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["gpu_train_check.py", *argv])
    g.main()


def test_stacked_train_runs_before_item5_takes_every_second_left(monkeypatch, tmp_path):
    """The doc's order: CUDA tests, stacked-train-5, then item5 with the budget left; item5
    first left stacked-train-5 nothing."""
    calls: list[str] = []
    _record_stages(monkeypatch, calls)
    _main(monkeypatch, [str(tmp_path), "--smoke", "--data", "phantom:n=8", "--skip", DOC_SKIP])
    assert calls == ["pytest", "stacked_train", "item5"]


def test_a_wrong_setup_stops_before_any_stage(monkeypatch, tmp_path):
    """No CUDA (this CPU), a missing --data file: the check stops at once, not after the CUDA
    tests' 100 s and a failed item5."""
    calls: list[str] = []
    _record_stages(monkeypatch, calls)
    argv = [str(tmp_path), "--data", str(tmp_path / "missing.npz"), "--skip", DOC_SKIP]
    started = time.monotonic()
    with pytest.raises(SystemExit) as stop:
        _main(monkeypatch, argv)
    assert calls == [] and time.monotonic() - started < 60
    assert "missing.npz" in str(stop.value)
    if not __import__("torch").cuda.is_available():
        assert "CUDA" in str(stop.value)


def test_an_unknown_skip_name_is_refused(monkeypatch, tmp_path):
    """A typo in --skip would run a stage meant to be left out, and spend the budget on it."""
    calls: list[str] = []
    _record_stages(monkeypatch, calls)
    with pytest.raises(SystemExit, match="item-5"):
        _main(monkeypatch, [str(tmp_path), "--smoke", "--data", "phantom:n=8", "--skip", "item-5"])
    assert calls == []


def test_a_stage_that_raises_leaves_the_next_stages_running(monkeypatch, tmp_path):
    calls: list[str] = []
    _record_stages(monkeypatch, calls, raising="stacked_train")
    _main(monkeypatch, [str(tmp_path), "--smoke", "--data", "phantom:n=8", "--skip", DOC_SKIP])
    assert calls == ["pytest", "stacked_train", "item5"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "boom" in summary["stages"]["stacked-train-5"]["error"]


def test_steady_rate_skips_a_cut_last_line(tmp_path):
    """A run killed after its grace leaves half a record; the stage's numbers still count."""
    metrics = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"step": s, "elapsed_seconds": s / 10}) for s in (10, 20, 30)]
    metrics.write_text("\n".join(lines) + '\n{"step": 40, "elaps')
    assert g.steady_rate(metrics) == 10.0


def test_a_cut_stage_ends_within_the_budget(tmp_path):
    """The limit a stage waits is the budget less the GRACE its SIGINT gets: before, a
    benchmark stage waited the budget less 5 s, then 20 s more."""
    check = g.Check(tmp_path, budget=4, smoke=True, data="")
    child = "import time\ntime.sleep(60)\n"
    started = time.monotonic()
    procs = [check.spawn([sys.executable, "-c", child]) for _ in range(2)]
    assert check.wait(procs, limit=30) == ["timeout", "timeout"]
    # one GRACE for all the cut processes, not one each; the limit itself capped to 1 s
    assert time.monotonic() - started < 1 + g.GRACE + 5


def _fake_item5(folder: Path) -> None:
    """An item5 folder as gaunet benchmark leaves it, with files five folders down."""
    for s in range(3):
        run = folder / f"subset-{s}" / "generators" / f"gaunet-f0.25-s{s}"
        (run / "checkpoints").mkdir(parents=True)
        (run / "checkpoints" / "last.pt").write_bytes(random.Random(s).randbytes(50_000))
        (run / "checkpoints" / "step-000002.pt").write_bytes(b"x" * 1000)
        (folder / f"subset-{s}" / "results.csv").write_text("a,b\n1,2\n")
    (folder / "pooled.json").write_text("{}")


def test_item5_comes_back_as_archive_parts_that_unpack_to_the_folder(monkeypatch, tmp_path):
    """On a GPU, OUT holds no file more than two folders down and no more than 8 files, each
    below 16 MiB; joined, the parts unpack to the folder less its periodic snapshots."""
    out = tmp_path / "out"
    out.mkdir()
    check = g.Check(out, budget=1000, smoke=False, data="x.npz", item5_dir=tmp_path / "w" / "item5")
    monkeypatch.setattr(g.Check, "generator_config", lambda self, batch, folder=None: Path("c"))

    def run_benchmark(self, argv, folder, prefix, limit=None, tables=True):
        _fake_item5(folder)
        (folder / "results.csv").write_text("x\n")  # a top-level table stays in the archive
        (folder / "summary.md").write_text("x\n")
        return {"exit": [0], "generators": []}

    monkeypatch.setattr(g.Check, "run_benchmark", run_benchmark)
    monkeypatch.setattr(g, "PART_BYTES", 40_000)  # several parts from this small folder
    check.item5(0)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert all(len(p.relative_to(out).parts) <= 3 for p in files)
    assert len(files) <= 8 and all(p.stat().st_size <= 16 * 2**20 for p in files)
    parts = sorted(out.glob("item5.tar.gz.part-*"))
    assert len(parts) >= 2 and all(p.stat().st_size <= 40_000 for p in parts)
    joined = b"".join(p.read_bytes() for p in parts)
    with tarfile.open(fileobj=io.BytesIO(joined), mode="r:gz") as tar:
        names = set(tar.getnames())
        last = tar.extractfile("item5/subset-2/generators/gaunet-f0.25-s2/checkpoints/last.pt")
        assert last.read() == random.Random(2).randbytes(50_000)  # incompressible
    assert "item5/pooled.json" in names and not any("step-" in n for n in names)
    # and as the doc's shell unpacks it
    dest = tmp_path / "dest"
    dest.mkdir()
    subprocess.run(f"cat {out}/item5.tar.gz.part-* | tar -xz -C {dest}", shell=True, check=True)
    assert (dest / "item5" / "subset-0" / "results.csv").read_text() == "a,b\n1,2\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stages"]["item5"]["archive"] == [p.name for p in parts]


def test_the_cuda_tests_alone_need_monai_too(monkeypatch, tmp_path):
    """tests/test_downstream_device.py builds a MONAI ResNet: a run of the CUDA tests without
    MONAI failed there, and under -x the stacked and penalty-norm CUDA tests never ran. A
    wheel that is found but fails to import is caught the same way."""
    calls: list[str] = []
    _record_stages(monkeypatch, calls)
    monkeypatch.setattr(g, "_monai_problem", lambda: "ImportError: built for another torch")
    only_cuda_tests = ",".join(s for s in g.STAGES if s != "pytest-cuda")
    argv = [str(tmp_path), "--smoke", "--data", "phantom:n=8", "--skip", only_cuda_tests]
    with pytest.raises(SystemExit) as stop:
        _main(monkeypatch, argv)
    assert calls == [] and "MONAI is not importable (ImportError" in str(stop.value)
