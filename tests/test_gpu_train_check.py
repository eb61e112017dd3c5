"""benchmarks/gpu_train_check.py (issue 29's GPU check) in its CPU smoke mode: the same stages
run `gaunet train` and `gaunet benchmark` as subprocesses with tiny networks and step counts
(not time budgets, so nothing here depends on the machine's speed), and every number lands in
OUT/summary.json."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = ",".join(
    [
        "pytest-cuda",
        "norm-256",
        "stacked-b128",
        "tiny28-b256",
        "tiny28-b512",
        "paper28-b64-bf16",
        "tiny28-b128",
        "paper28-b64-autotune",
        "paper256-b32",
        "concurrent-4",
        "tiny28-fp32",
        "paper28-b64-eager",
    ]
)


def test_smoke_run_measures_each_stage_from_the_run_folders(tmp_path):
    out = tmp_path / "check"
    argv = [sys.executable, str(ROOT / "benchmarks" / "gpu_train_check.py"), str(out)]
    argv += ["--smoke", "--data", "phantom:n=48,classes=2", "--skip", SKIP, "--budget", "100000"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    stages = summary["stages"]
    assert set(stages) == {
        "stacked-train-5",
        "item5",
        "norm-28",
        "stacked-b16",
        "table3-busi",
        "paper28-b64",
        "tiny28",
        "concurrent-2",
        "benchmark",
    }
    for name in ("paper28-b64", "tiny28", "concurrent-2"):
        assert all(code == 0 for code in stages[name]["exit"]), name
        for run in stages[name]["runs"]:
            assert run["steps"] == 6 and run["status"] == "completed"
            assert run["steady_steps_per_second"] > 0 and run["steps_per_second"] > 0
            assert run["cuda_graphs"] is False  # a CPU: the reason says why
            assert "need a CUDA device" in run["cuda_graphs_reason"]
            assert run["precision"] in ("fp32", "bf16") and run["precision_reason"]
    two = stages["concurrent-2"]
    assert len(two["runs"]) == 2
    rates = [r["steady_steps_per_second"] for r in two["runs"]]
    assert two["aggregate_steady_steps_per_second"] == round(sum(rates), 3)
    bench = stages["benchmark"]
    assert bench["exit"] == [0]
    rows = (out / "benchmark-results.csv").read_text().splitlines()
    arms = {line.split(",")[1] for line in rows[1:]}
    assert arms == {"none", "classic", "gaunet", "gaunet+classic", "copies", "copies+classic"}
    assert bench["generators"] and bench["generators"][0]["steps"] == 4
    assert "$ " in (out / "log.txt").read_text()  # every command, as run
    stacked = stages["stacked-b16"]
    assert stacked["exit"] == [0] and stacked["runs"][0]["models"] == 2
    single = stacked["separate"]["kernel_ops_per_model_iteration"]
    # two models stepped as one launch fewer kernels per model than one model alone
    assert stacked["runs"][0]["stacked"]["kernel_ops_per_model_iteration"] < 0.75 * single
    together = stages["stacked-train-5"]
    assert together["exit"] == [0] and len(together["runs"]) == 5
    assert [r["stacked"]["index"] for r in together["runs"]] == [0, 1, 2, 3, 4]
    assert all(r["steps"] == 6 and r["stacked"]["models"] == 5 for r in together["runs"])
    assert together["aggregate_steady_steps_per_second"] > 0
    item5 = stages["item5"]
    assert item5["exit"] == [0] and [g["steps"] for g in item5["generators"]] == [4, 4]
    kept = out / "item5"
    assert (kept / "pooled.md").is_file()
    runs = sorted(kept.glob("subset-*/generators/*/checkpoints"))
    assert len(runs) == 2 and all((run / "last.pt").is_file() for run in runs)
    assert item5["snapshots_left_behind"] > 0  # periodic snapshots were made, and stay behind
    assert not list(kept.rglob("step-*.pt"))
    norm = stages["norm-28"]
    assert norm["exit"] == [0] and norm["device"] == "cpu"
    assert norm["short_kernels"] < 0.9 * norm["native_kernels"]
    assert norm["short_iterations_per_second"] > 0 and norm["native_iterations_per_second"] > 0
    table3 = stages["table3-busi"]
    assert table3["exit"] == [0]
    rows = (out / "table3-results.csv").read_text().splitlines()
    header = rows[0].split(",")
    pairs = {(r.split(",")[header.index("classifier")], r.split(",")[1]) for r in rows[1:]}
    classifiers = {"resnet18", "resnet50", "densenet161", "svm"}
    assert pairs == {(c, a) for c in classifiers for a in ("none", "gaunet", "copies")}
    assert {cell["classifier"] for cell in table3["cells"]} == classifiers


def test_results_files_resolve_each_runs_preset_size_and_batch(tmp_path):
    """--from-summary: one docs/results JSON per training run, with the config resolved from
    the stage's arguments and the defaults that held when the summary was made."""
    summary = {
        "started": "2026-12-04 18:30:22",
        "stages": {
            "paper28-b64": {
                "args": [
                    "--config",
                    "paper",
                    "--size",
                    "28",
                    "--channels",
                    "1",
                    "--set",
                    "pad_input=true",
                    "--set",
                    "batch_size=64",
                ],
                "copies": 1,
                "runs": [{"steps": 221, "wall_seconds": 32.4, "steps_per_second": 6.8}],
            },  # fmt: skip
            "concurrent-2": {
                "args": ["--config", "cpu-tiny", "--set", "cudnn_benchmark=false"],
                "copies": 2,
                "runs": [{"steps": 15}, {"error": "no run.json"}],
            },
            "pytest-cuda": {"exit": [0]},
        },
    }
    source = tmp_path / "summary.json"
    source.write_text(json.dumps(summary))
    argv = [sys.executable, str(ROOT / "benchmarks" / "gpu_train_check.py"), str(tmp_path)]
    argv += ["--from-summary", str(source), "--tag", "t", "--assume", "cudnn_benchmark=true"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    paper = json.loads((tmp_path / "gpu-train-t-paper28-b64.json").read_text())
    assert (paper["preset"], paper["size"], paper["channels"], paper["batch_size"]) == (
        "paper",
        28,
        1,
        64,
    )
    assert paper["cudnn_benchmark"] is True and paper["steps"] == 221  # the assumed default
    tiny = json.loads((tmp_path / "gpu-train-t-concurrent-2-0.json").read_text())
    assert tiny["size"] == 32 and tiny["cudnn_benchmark"] is False  # --set beats --assume
    assert tiny["processes_at_once"] == 2
    assert not (tmp_path / "gpu-train-t-concurrent-2-1.json").exists()  # a run without run.json


ALL_BUT_ITEM5 = ",".join(
    [
        *SKIP.split(","),
        "stacked-train-5", "norm-28", "stacked-b16", "table3-busi", "paper28-b64", "tiny28",
        "concurrent-2", "benchmark",
    ]
)  # fmt: skip


def test_item5_continues_in_a_carried_folder(item5_smoke_check, tmp_path):
    """--item5-dir with the folder a first check brought back (conftest.item5_smoke_check),
    carried to another path as to a fresh GPU machine, its recorded paths stale: the second
    check continues it (its pinned generator config is found under the same name), training
    nothing again and adding no cell."""
    carried = tmp_path / "carried" / "item5"
    shutil.copytree(item5_smoke_check / "item5", carried)
    argv = [sys.executable, str(ROOT / "benchmarks" / "gpu_train_check.py")]
    argv += ["--smoke", "--data", "phantom:n=48,classes=2", "--skip", ALL_BUT_ITEM5]
    argv += ["--item5-dir", str(carried), str(tmp_path / "check")]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = (
        json.loads((out / "summary.json").read_text())["stages"]["item5"]
        for out in (item5_smoke_check, tmp_path / "check")
    )
    assert first["exit"] == second["exit"] == [0]
    assert first["result_rows"] == second["result_rows"] > 0
    assert [g["wall_seconds"] for g in first["generators"]] == [
        g["wall_seconds"] for g in second["generators"]
    ]  # the generators were not trained again
    assert "generators together" in (item5_smoke_check / "log.txt").read_text()
    assert "generators together" not in (tmp_path / "check" / "log.txt").read_text()


def test_a_stage_past_its_limit_gets_ctrl_c_first(tmp_path):
    """A cut stage is sent SIGINT (gaunet saves its checkpoints on it), not killed outright."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from gpu_train_check import Check

    saved = tmp_path / "saved"
    child = (
        "import signal, sys, time\n"
        f"signal.signal(signal.SIGINT, lambda *a: (open({str(saved)!r}, 'w').write('x'), "
        "sys.exit(130)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    check = Check(tmp_path, budget=100, smoke=True, data="")
    proc = check.spawn([sys.executable, "-c", child])
    for _ in range(300):  # until the handler is installed (the child says so in the log)
        if "ready" in (tmp_path / "log.txt").read_text():
            break
        time.sleep(0.1)
    assert check.wait([proc], limit=1) == ["timeout"]
    assert saved.read_text() == "x"
