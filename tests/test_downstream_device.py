"""--device for the benchmark, evaluate and demo: the CPU path is the old one bit for bit, CUDA
without CUDA is refused before anything is written, and (where CUDA exists) a cell on the GPU
agrees with the CPU's within a loose tolerance.

Pairing on a GPU is by construction (downstream/fit.py): the network is initialised on the CPU
and moved, the batch order and augmentation come from a CPU generator."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from downstream_helpers import FakeGenerators, one_quiet_thread

from gaunet.cli import main
from gaunet.data import ImageSet, load_source
from gaunet.data.imageset import to_unit_tensor
from gaunet.downstream.arms import parse_arms
from gaunet.downstream.augment import classic_augment
from gaunet.downstream.benchmark import CELL_LOG, BenchmarkSettings, run_benchmark
from gaunet.downstream.classifiers import build_network
from gaunet.downstream.fit import FitSettings, fit_network, predict_proba
from gaunet.downstream.generator_arms import GeneratorArms
from gaunet.errors import GaunetError
from gaunet.metrics.features.domain import DomainSettings, train_network, training_key

DATA = "phantom:n=24"
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    with one_quiet_thread(monkeypatch):
        yield


def _no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """`auto` is the CPU and `cuda` is refused, on any machine."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _phantom(n: int) -> ImageSet:
    return load_source(f"phantom:n={n}", size=16, channels=1)


def _bright_vs_dark(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    base = np.where(labels == 1, 180, 60)[:, None, None, None]
    noise = rng.integers(-40, 40, size=(n, 1, 16, 16))
    return np.clip(base + noise, 0, 255).astype(np.uint8), labels


def _fit(device: str | None, **kwargs: object) -> tuple[torch.nn.Module, dict]:
    """A fixed-seed tiny ResNet trained 2 epochs with classic augmentation."""
    x, y = _bright_vs_dark(20, 0)
    vx, vy = _bright_vs_dark(8, 1)
    torch.manual_seed(0)
    model = build_network("resnet18", 1, 2, size=16, width=0.125)
    settings = FitSettings(epochs=2, patience=2, batch_size=8)
    extra = {} if device is None else {"device": device}
    info = fit_network(model, x, y, vx, vy, settings, seed=3, augment=True, **kwargs, **extra)
    return model, info


def _results_without_seconds(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


# ----- the CPU path is the old one ------------------------------------------------------------


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")])
@pytest.mark.parametrize("rotation", [False, True])
def test_fit_network_on_the_cpu_equals_no_device(device: object, rotation: bool) -> None:
    """device="cpu" changes nothing: the same weights, BatchNorm statistics and epochs."""
    turns = {"rotation": np.arange(20) % 2} if rotation else {}
    plain, plain_info = _fit(None, **turns)
    moved, moved_info = _fit(device, **turns)
    assert moved_info["device"] == plain_info["device"] == "cpu"
    for key in ("epochs_run", "best_epoch", "best_val_loss"):
        assert moved_info[key] == plain_info[key]
    for (name, a), (_, b) in zip(plain.state_dict().items(), moved.state_dict().items()):
        assert torch.equal(a, b), name


def test_predict_proba_on_the_cpu_equals_the_per_batch_conversion() -> None:
    """The old predict_proba converted each batch on its own; converting once gives the same."""
    model, _ = _fit(None)
    images, _ = _bright_vs_dark(10, 2)
    model.eval()
    with torch.no_grad():
        old = np.concatenate(
            [
                torch.softmax(model(to_unit_tensor(images[s : s + 4])).float(), 1).numpy()
                for s in range(0, len(images), 4)
            ]
        )
    np.testing.assert_array_equal(predict_proba(model, images, batch_size=4), old)
    np.testing.assert_array_equal(predict_proba(model, images, 4, device="cpu"), old)


def test_domain_classifier_on_the_cpu_keeps_its_key_and_weights() -> None:
    """The CPU cache key is unchanged (cached classifiers stay valid); a GPU one has its own."""
    train = _phantom(24)
    tiny = DomainSettings(size=16, steps=6, width=4)
    assert training_key(train, tiny, "cpu") == training_key(train, tiny)
    assert training_key(train, tiny, "cuda:0") != training_key(train, tiny)
    assert training_key(train, tiny, "cuda:0") == training_key(train, tiny, "cuda")
    plain, _ = train_network(train, tiny)
    moved, _ = train_network(train, tiny, "cpu")
    for (name, a), (_, b) in zip(plain.state_dict().items(), moved.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("device_args", [[], ["--device", "auto"]])
def test_default_device_gives_the_cpu_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, device_args: list[str]
) -> None:
    """Without CUDA the default (auto) is the CPU: results.csv equal to --device cpu's."""
    _no_cuda(monkeypatch)
    base = ["benchmark", "--data", DATA, "--classifiers", "resnet18,svm", "--width", "0.125"]
    base += ["--arms", "none,classic", "--fractions", "1", "--seeds", "1", "--epochs", "1"]
    base += ["--size", "16"]
    assert main([*base, "--out", str(tmp_path / "cpu"), "--device", "cpu"]) == 0
    assert main([*base, "--out", str(tmp_path / "auto"), *device_args]) == 0
    cpu = _results_without_seconds(tmp_path / "cpu" / "results.csv")
    auto = _results_without_seconds(tmp_path / "auto" / "results.csv")
    assert cpu == auto and len(cpu) > 0
    record = json.loads((tmp_path / "auto" / "benchmark.json").read_text())
    assert record["device"] == (device_args[1] if device_args else "auto")
    cells = [json.loads(line) for line in (tmp_path / "auto" / CELL_LOG).read_text().splitlines()]
    assert {c["device"] for c in cells} == {"cpu"} and len(cells) == 4


def test_a_folder_started_on_one_device_continues_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--device is not pinned: a rerun with another device is accepted and adds its cells."""
    _no_cuda(monkeypatch)
    settings = BenchmarkSettings(
        data=DATA, classifiers=["svm"], arms=["none"], fractions=[1.0], seeds=1, size=16
    )
    run_benchmark(settings, tmp_path)
    settings.seeds, settings.device = 2, "cpu"
    run_benchmark(settings, tmp_path)
    lines = (tmp_path / CELL_LOG).read_text().splitlines()
    assert [json.loads(line)["seed"] for line in lines] == [0, 1]
    assert json.loads((tmp_path / "benchmark.json").read_text())["device"] == "cpu"


# ----- CUDA named without CUDA ------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["benchmark", "--data", DATA, "--classifiers", "svm", "--size", "16", "--out"],
        ["demo", "--data", "phantom", "--out"],
    ],
)
def test_cuda_without_cuda_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, command: list
) -> None:
    _no_cuda(monkeypatch)
    out = tmp_path / "out"
    assert main([*command, str(out), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert not out.exists()


def test_evaluate_refuses_cuda_without_cuda_before_reading_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _no_cuda(monkeypatch)
    target = tmp_path / "metrics.json"
    args = ["evaluate", "--real", str(tmp_path / "missing"), "--synthetic", str(tmp_path / "x")]
    assert main([*args, "--json", str(target), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and "missing" not in err
    assert not target.exists()


def test_run_benchmark_refuses_cuda_before_making_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_cuda(monkeypatch)
    settings = BenchmarkSettings(data=DATA, classifiers=["svm"], device="cuda:1")
    with pytest.raises(GaunetError, match="CUDA is not available"):
        run_benchmark(settings, tmp_path / "bench")
    assert not (tmp_path / "bench").exists()


# ----- the generator arms get the device ----------------------------------------------------------


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_generator_arms_pass_an_explicit_device(tmp_path: Path, device: str) -> None:
    """auto leaves the generator config's device and generate_dataset's default; another
    device goes to both the generator's training and its generation."""
    fake = FakeGenerators()
    helper = GeneratorArms(tmp_path, train_fn=fake.train, generate_fn=fake.generate)
    helper.device = device
    subset = _phantom(12)
    subset.split = np.full(len(subset), "train")
    helper.extra_images(parse_arms(["gaunet"])[0], 1.0, subset)
    overrides = fake.calls[0]["overrides"]
    if device == "auto":
        assert "device" not in overrides and fake.devices == [None]
    else:
        assert overrides["device"] == device and fake.devices == [device]


# ----- on a GPU -----------------------------------------------------------------------------------


@CUDA
def test_classic_augment_on_cuda_draws_the_cpu_transforms() -> None:
    """The parameters come from the CPU generator: the same seed, the same warp on the GPU."""
    images = to_unit_tensor(_bright_vs_dark(6, 0)[0])
    cpu = classic_augment(images, torch.Generator().manual_seed(5))
    gpu = classic_augment(images.cuda(), torch.Generator().manual_seed(5))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=1e-4)


@CUDA
def test_fit_network_on_cuda_stays_paired_with_the_cpu() -> None:
    """Same initial weights and batches: after 2 epochs the weights are still close (cuDNN
    rounding, TF32), and the probabilities finite. The batch-norm running statistics are not
    compared: recomputed from the whole training set after each epoch, the deep layers' small
    means differ in relative terms (on an H200, layer4.0.bn1.running_mean failed rtol 0.05)."""
    cpu, _ = _fit("cpu")
    gpu, info = _fit("cuda")
    assert info["device"].startswith("cuda")
    for (name, a), (_, b) in zip(cpu.named_parameters(), gpu.named_parameters()):
        torch.testing.assert_close(b.detach().cpu(), a.detach(), atol=0.05, rtol=0.05, msg=name)
    images, _ = _bright_vs_dark(10, 2)
    probabilities = predict_proba(gpu, images)
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities, predict_proba(cpu, images), atol=0.1)


@CUDA
def test_a_benchmark_cell_on_cuda_agrees_with_the_cpu(tmp_path: Path) -> None:
    """Tiny ResNet cells (none, classic) on each device: finite metrics, within a loose
    tolerance of the CPU's, and cells.jsonl says where each ran."""
    base = dict(
        data=DATA, classifiers=["resnet18"], arms=["none", "classic"], fractions=[1.0],
        seeds=1, size=16, width=0.125, fit=FitSettings(epochs=2, patience=2),
    )  # fmt: skip
    values = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        results = run_benchmark(BenchmarkSettings(**base, device=device), out)
        with open(results, newline="") as handle:
            values[device] = {
                (r["arm"], r["metric"]): float(r["value"]) for r in csv.DictReader(handle)
            }
        cells = [json.loads(line) for line in (out / CELL_LOG).read_text().splitlines()]
        assert all(c["device"].startswith(device) for c in cells)
    assert values["cpu"].keys() == values["cuda"].keys()
    for key, value in values["cuda"].items():
        assert np.isfinite(value), key
        if key[1] in ("accuracy", "auc"):  # macro precision jumps when a class empties
            assert abs(value - values["cpu"][key]) <= 0.25, key


@CUDA
def test_domain_classifier_trains_on_cuda() -> None:
    train = _phantom(24)
    net, log = train_network(train, DomainSettings(size=16, steps=6, width=4), "cuda")
    assert next(net.parameters()).device.type == "cuda" and np.isfinite(log["final_loss"])
