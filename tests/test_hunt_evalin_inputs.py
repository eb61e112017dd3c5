"""`gaunet evaluate --run`'s inputs: the noise scale a `--format npz` generation (or a `~` path)
records is the one noise diversity is measured at, and a generator class without training
images does not throw away every number computed before noise diversity."""

import json

import numpy as np
import pytest
from test_diversity import FakeGenerator
from test_evaluate_cli import FAST, REAL

from gaunet.cli import main
from gaunet.data.phantom import make_phantom
from gaunet.errors import GaunetError
from gaunet.metrics.diversity import noise_diversity


@pytest.fixture(autouse=True)
def environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def write_npz_generation(folder, scale: float):
    """What `gaunet generate --format npz --noise-scale S` writes: synthetic.npz (MedMNIST layout
    with class_names) and provenance.csv recording S."""
    images, labels, names, _ = make_phantom(6, 2, size=16, seed=7)
    folder.mkdir()
    np.savez(
        folder / "synthetic.npz",
        train_images=images,
        train_labels=labels[:, None],
        class_names=np.asarray(names),
    )
    rows = ["index,label,class,source_id,seed,checkpoint_sha256,noise_scale"]
    rows += [
        f"{i},{label},{names[label]},s{i},0,{'0' * 64},{scale!r}" for i, label in enumerate(labels)
    ]
    (folder / "provenance.csv").write_text("\n".join(rows) + "\n")
    return folder


def evaluate_with_run(tmp_path, monkeypatch, synthetic: str) -> tuple[dict, list]:
    scales = []

    def loaded(run, device="cpu", noise_scale=None):
        scales.append(noise_scale)
        return FakeGenerator(noise=0.5)

    monkeypatch.setattr("gaunet.trained_generator.load_generator", loaded)
    run = tmp_path / "run"
    run.mkdir()
    out = tmp_path / "result.json"
    args = ["evaluate", "--real", REAL, "--synthetic", synthetic, "--features", "domain"]
    args += ["--run", str(run), "--diversity-sources", "2", "--diversity-draws", "2"]
    assert main([*args, "--json", str(out), *FAST]) == 0
    return json.loads(out.read_text()), scales


def test_an_npz_generation_keeps_its_recorded_noise_scale(tmp_path, monkeypatch):
    """An npz generation is read as DIR/synthetic.npz (the folder itself is no source), and the
    scale in the provenance.csv beside it was missed: noise diversity ran at 1, not at the
    scale the evaluated images were drawn with."""
    folder = write_npz_generation(tmp_path / "syn", scale=2.5)
    result, scales = evaluate_with_run(tmp_path, monkeypatch, str(folder / "synthetic.npz"))
    assert scales == [2.5]
    assert result["noise_diversity"]["noise_scale"] == 2.5


def test_a_home_relative_synthetic_folder_keeps_its_recorded_noise_scale(tmp_path, monkeypatch):
    """--synthetic "~/syn" (quoted, or --synthetic=~/syn): the images were read from the home
    folder, but the manifest's scale was looked for in a folder literally named `~`."""
    from test_evaluate_cli import write_generated_folder

    monkeypatch.setenv("HOME", str(tmp_path))
    folder = write_generated_folder(tmp_path / "syn", per_class=6)
    manifest = folder / "manifest.csv"
    lines = manifest.read_text().splitlines()
    manifest.write_text(
        "\n".join([lines[0] + ",noise_scale", *(line + ",3.0" for line in lines[1:])]) + "\n"
    )
    result, scales = evaluate_with_run(tmp_path, monkeypatch, "~/syn")
    assert scales == [3.0]
    assert result["noise_diversity"]["noise_scale"] == 3.0


class UntrainedClassGenerator(FakeGenerator):
    """A run whose training split has no image of one class, and the real generator's rule:
    no conditioning rows for such a class (TrainedGenerator.conditioning_rows)."""

    def __init__(self, noise: float) -> None:
        super().__init__(noise)
        self.class_names = ["a", "b", "c"]
        self.train_images.class_names = self.class_names

    def conditioning_rows(self, class_index, n, seed, start=0):
        if not (self.train_images.labels == class_index).any():
            raise GaunetError(f"class {self.class_names[class_index]!r} has no training images")
        return super().conditioning_rows(class_index, n, seed, start)


def test_a_class_without_training_images_is_left_out_of_noise_diversity():
    """noise diversity runs last: the error lost every number `gaunet evaluate` had computed."""
    result = noise_diversity(UntrainedClassGenerator(noise=0.5), sources=2, draws=2)
    assert set(result["per_class"]) == {"a", "b"}
    assert np.isfinite(result["ratio"]) and result["ratio"] > 0
