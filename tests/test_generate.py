import csv
import hashlib
import json

import numpy as np
import pytest
import torch
from train_helpers import tiny_train

from gaunet import load_generator
from gaunet.cli import main as cli_main
from gaunet.data import load_source
from gaunet.errors import GaunetError
from gaunet.generate import MANIFEST_COLUMNS, generate_dataset


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_train(tmp_path_factory.mktemp("gen") / "run", steps=3)


def _digests(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.png"))
    }


def test_same_seed_same_files_and_batch_size_does_not_matter(run, tmp_path):
    generate_dataset(run, tmp_path / "a", per_class=5, seed=4, batch_size=2)
    generate_dataset(run, tmp_path / "b", per_class=5, seed=4, batch_size=64)
    generate_dataset(run, tmp_path / "c", per_class=5, seed=5)
    a, b, c = (_digests(tmp_path / k) for k in "abc")
    assert len(a) == 10 and a == b
    assert a != c
    assert (tmp_path / "a/manifest.csv").read_text() == (tmp_path / "b/manifest.csv").read_text()


def test_per_class_counts_give_a_prefix_of_the_same_images(run, tmp_path):
    """One count per class (an imbalanced benchmark's needs): each class gets its own number,
    and its images are byte for byte the first ones of a generation at the largest count."""
    generate_dataset(run, tmp_path / "full", per_class=5, seed=4)
    manifest = generate_dataset(run, tmp_path / "counts", per_class=[2, 5], seed=4)
    full, counts = _digests(tmp_path / "full"), _digests(tmp_path / "counts")
    assert len(counts) == 7 and counts.items() <= full.items()
    with open(manifest, newline="") as handle:
        labels = [int(row["label"]) for row in csv.DictReader(handle)]
    assert labels.count(0) == 2 and labels.count(1) == 5


@pytest.mark.parametrize(
    ("per_class", "said"),
    [([1, 2, 3], "3 counts, the generator 2 classes"), ([0, 0], "at least one"), ([-1, 4], ">= 0")],
)
def test_bad_per_class_counts_are_refused_before_anything_is_written(
    run, tmp_path, per_class, said
):
    with pytest.raises(GaunetError, match=said):
        generate_dataset(run, tmp_path / "out", per_class=per_class)
    assert not (tmp_path / "out").exists()


def test_manifest_and_files_feed_back_into_the_loader(run, tmp_path):
    manifest = generate_dataset(run, tmp_path / "syn", per_class=3, seed=0)
    with open(manifest, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == MANIFEST_COLUMNS and len(rows) == 6
    sha = hashlib.sha256((run / "checkpoints" / "last.pt").read_bytes()).hexdigest()
    assert {r["checkpoint_sha256"] for r in rows} == {sha}
    with np.load(run / "train_images.npz") as saved:
        train_ids = set(saved["ids"])
    opaque = {hashlib.sha256(i.encode()).hexdigest()[:12] for i in train_ids}
    assert {r["source_id"] for r in rows} <= opaque
    data = load_source(tmp_path / "syn", size=16, channels=1)
    assert len(data) == 6
    assert data.class_names == ["round-smooth", "spiculated-irregular"]
    assert data.class_counts() == {"round-smooth": 3, "spiculated-irregular": 3}
    assert data.images.shape == (6, 1, 16, 16)


def test_keep_source_names_maps_ids(run, tmp_path):
    generate_dataset(run, tmp_path / "syn", per_class=2, keep_source_names=True)
    with open(tmp_path / "syn" / "source_ids.csv", newline="") as handle:
        mapping = {r["source_id"]: r["train_id"] for r in csv.DictReader(handle)}
    assert all(hashlib.sha256(v.encode()).hexdigest()[:12] == k for k, v in mapping.items())


def test_npz_format_is_a_medmnist_source(run, tmp_path):
    generate_dataset(run, tmp_path / "npz", per_class=2, fmt="npz")
    data = load_source(tmp_path / "npz" / "synthetic.npz", size=16, channels=1)
    assert len(data) == 4 and sorted(data.labels.tolist()) == [0, 0, 1, 1]
    assert data.class_names == load_generator(run, device="cpu").class_names  # not '0', '1'


def test_npz_format_with_a_class_left_out_reads_back(run, tmp_path):
    """`per_class=[0, 3]` wrote an archive that `load_source` refused ("classes 0 have no
    image"): its class names now travel with it."""
    generate_dataset(run, tmp_path / "npz", per_class=[0, 3], fmt="npz")
    data = load_source(tmp_path / "npz" / "synthetic.npz", size=16, channels=1)
    names = load_generator(run, device="cpu").class_names
    assert data.class_names == names and data.class_counts() == {names[0]: 0, names[1]: 3}


def test_load_generator_samples_in_range_and_reproducibly(run):
    gen = load_generator(run, device="cpu")
    assert (gen.size, gen.channels, gen.model_name) == (16, 1, "gaunet")
    assert gen.class_names == ["round-smooth", "spiculated-irregular"]
    first = gen.sample(1, 4, seed=9)
    assert first.shape == (4, 1, 16, 16) and first.dtype == torch.float32
    assert first.min() >= -1 and first.max() <= 1
    torch.testing.assert_close(gen.sample(1, 4, seed=9), first)
    assert not torch.allclose(gen.sample(1, 4, seed=10), first)
    own = gen.sample(0, 2, seed=0, conditioning=torch.zeros(2, 1, 16, 16))
    assert own.shape == (2, 1, 16, 16)
    raw = load_generator(run / "checkpoints" / "last.pt", device="cpu", use_ema=False)
    assert not torch.allclose(raw.sample(1, 4, seed=9), first)
    with pytest.raises(GaunetError, match="out of range"):
        gen.sample(5, 1)
    torch.testing.assert_close(gen.sample(1, 4, seed=9), first)  # its chunk is kept
    gen.noise_scale = 3.0  # set between calls: the kept chunk was drawn at 1.0
    wider = gen.sample(1, 4, seed=9)
    assert not torch.allclose(wider, first)
    torch.testing.assert_close(wider, load_generator(run, noise_scale=3.0).sample(1, 4, seed=9))


def test_cli_generate_and_train(run, tmp_path):
    assert (
        cli_main(["generate", "--run", str(run), "--out", str(tmp_path / "o"), "--per-class", "1"])
        == 0
    )
    assert len(list((tmp_path / "o").rglob("*.png"))) == 2
    assert cli_main(["generate", "--run", str(tmp_path / "none"), "--out", str(tmp_path / "x"), "--per-class", "1"]) == 2  # fmt: skip
    args = ["train", "--data", "phantom:n=6", "--out", str(tmp_path / "r"), "--steps", "1", "--size", "16", "--quiet", "--set", "g_width=4", "--set", "d_growth=4", "--set", "d_stem=4", "--set", "tensorboard=false"]  # fmt: skip
    assert cli_main(args) == 0
    assert (tmp_path / "r" / "checkpoints" / "last.pt").is_file()
    assert cli_main(args) == 2  # refuses to overwrite; says to use --resume
    assert (
        cli_main(["train", "--out", str(tmp_path / "r"), "--resume", "--steps", "2", "--quiet"])
        == 0
    )


def _record_network_batches(monkeypatch):
    """Every batch size the generator network is run on, by any generate_dataset call."""
    import gaunet.generate as generate_module

    sizes: list[int] = []
    original = generate_module.load_generator

    def load_and_hook(*args, **kwargs):
        gen = original(*args, **kwargs)
        gen.network.register_forward_hook(lambda module, inputs, output: sizes.append(len(output)))
        return gen

    monkeypatch.setattr(generate_module, "load_generator", load_and_hook)
    return sizes


def test_network_only_ever_sees_the_chunk_shape_so_batch_size_cannot_change_files(
    run, tmp_path, monkeypatch
):
    """By construction, not by luck of the CPU's kernels: whatever the batch size, the network
    is run on GENERATION_CHUNK rows only, so oneDNN (AMX) cannot pick other kernels."""
    from gaunet.trained_generator import GENERATION_CHUNK

    sizes = _record_network_batches(monkeypatch)
    digests = []
    for k, batch in enumerate((1, 3, GENERATION_CHUNK + 1, 64)):
        generate_dataset(run, tmp_path / f"b{k}", per_class=13, seed=2, batch_size=batch)
        digests.append(_digests(tmp_path / f"b{k}"))
    assert sizes and set(sizes) == {GENERATION_CHUNK}
    assert len(digests[0]) == 26 and all(d == digests[0] for d in digests)
    manifests = {(tmp_path / f"b{k}" / "manifest.csv").read_text() for k in range(4)}
    assert len(manifests) == 1


def test_sample_is_chunked_and_a_slice_of_the_same_sequence(run):
    from gaunet.trained_generator import GENERATION_CHUNK

    gen = load_generator(run, device="cpu")
    sizes: list[int] = []
    gen.network.register_forward_hook(lambda module, inputs, output: sizes.append(len(output)))
    whole = gen.sample(0, 11, seed=3)
    assert torch.equal(gen.sample(0, 4, seed=3, start=7), whole[7:])
    assert torch.equal(gen.sample(0, 1, seed=3, start=9), whole[9:10])
    own = gen.sample(1, 3, seed=0, conditioning=torch.zeros(3, 1, 16, 16))
    assert own.shape == (3, 1, 16, 16) and gen.sample(1, 0).shape == (0, 1, 16, 16)
    assert set(sizes) == {GENERATION_CHUNK}


def test_class_names_differing_in_case_or_too_long_get_distinct_short_folders(tmp_path):
    """Two classes `Benign`/`benign` collided on a case-insensitive disk and a 300-character
    name crashed with `File name too long`; the folders are now short, distinct, mapped in
    the manifest, and the folder reads back with the real class names."""
    from data_helpers import pattern

    from gaunet.data import ImageSet

    names = ["Benign", "benign", "x" * 300, "x" * 300 + "y"]
    images = np.stack([pattern(i, 16)[None] for i in range(16)])
    data = ImageSet(
        images, np.arange(16) % 4, names, np.arange(16).astype(str), np.arange(16).astype(str),
        np.full(16, "train"), source="hostile",
    )  # fmt: skip
    trained = tiny_train(tmp_path / "run", steps=1, data=data)
    manifest = generate_dataset(trained, tmp_path / "out", per_class=2)
    rows = list(csv.DictReader(manifest.open()))
    assert list(rows[0])[:6] == ["path", "label", "class", "source_id", "seed", "checkpoint_sha256"]
    folders = {r["class"]: r["folder"] for r in rows}
    assert sorted(folders) == sorted(names)
    assert len({f.lower() for f in folders.values()}) == 4
    assert all(len(f) <= 64 for f in folders.values())
    assert all(r["path"].split("/")[0] == r["folder"] for r in rows)
    assert len(list((tmp_path / "out").rglob("*.png"))) == 8
    back = load_source(tmp_path / "out", size=16, channels=1)
    assert back.class_names == names and back.class_counts() == dict.fromkeys(names, 2)


def _numbers(folder):
    """{class folder: candidate numbers} of the PNGs written."""
    found = {}
    for path in sorted(folder.rglob("*.png")):
        found.setdefault(path.parent.name, []).append(int(path.stem))
    return found


def test_filter_pool_keeps_the_most_confident_candidates_of_a_larger_draw(run, tmp_path):
    """--filter-pool 3: of the 9 candidates per class (the same files a plain 9-per-class
    generation writes), the 3 the domain CNN trained on the run's images is surest of."""
    import json

    from PIL import Image

    from gaunet.metrics.features.domain import DomainExtractor

    generate_dataset(run, tmp_path / "all", per_class=9, seed=2)
    generate_dataset(run, tmp_path / "kept", per_class=3, seed=2, filter_pool=3)
    everything, kept = _digests(tmp_path / "all"), _digests(tmp_path / "kept")
    assert len(kept) == 6 and all(everything[name] == digest for name, digest in kept.items())

    gen = load_generator(run)
    scorer = DomainExtractor.for_training_set(gen.train_images, device="cpu")
    rows = list(csv.DictReader((tmp_path / "all" / "manifest.csv").open()))
    pixels = [np.asarray(Image.open(tmp_path / "all" / r["path"])) for r in rows]
    images = np.stack([p[None] if p.ndim == 2 else p.transpose(2, 0, 1) for p in pixels])
    labels = np.asarray([int(r["label"]) for r in rows])
    confidence = scorer.predict_proba(images)[np.arange(len(rows)), labels]
    for c in (0, 1):
        folder = rows[int(np.flatnonzero(labels == c)[0])]["folder"]
        order = np.argsort(-confidence[labels == c], kind="stable")[:3]
        numbers = [int(r["path"].split("/")[1][:-4]) for r in rows if int(r["label"]) == c]
        assert sorted(numbers[i] for i in order) == _numbers(tmp_path / "kept")[folder]

    report = json.loads((tmp_path / "kept" / "filter.json").read_text())
    assert (report["pool"], report["candidates"], report["kept"]) == (3, 18, 6)
    assert report["mean_confidence_kept"] >= report["mean_confidence_all"]
    assert all(v["candidates"] == 9 and v["kept"] == 3 for v in report["per_class"].values())
    kept_rows = list(csv.DictReader((tmp_path / "kept" / "manifest.csv").open()))
    assert report["conditioning_images"] == {
        name: len({r["source_id"] for r in kept_rows if r["class"] == name})
        for name in sorted({r["class"] for r in kept_rows})
    }


@pytest.mark.parametrize(
    ("pool", "rate", "message"),
    [
        (0, None, "whole number"),
        (2.5, None, "whole number"),
        (True, None, "whole number"),
        (3, 0.5, "--max-copy-rate 0"),
    ],
)
def test_a_bad_filter_pool_is_refused_before_anything_is_written(
    run, tmp_path, pool, rate, message
):
    with pytest.raises(GaunetError, match=message):
        generate_dataset(run, tmp_path / "o", per_class=2, filter_pool=pool, max_copy_rate=rate)
    assert not (tmp_path / "o").exists()


def test_filter_pool_after_dropping_every_near_copy_and_from_the_cli(run, tmp_path, capsys):
    out = tmp_path / "o"
    args = ["generate", "--run", str(run), "--out", str(out), "--per-class", "2", "--quiet"]
    assert cli_main([*args, "--filter-pool", "2", "--max-copy-rate", "0"]) == 0
    assert "kept 4 of 8 candidates" in capsys.readouterr().out
    assert (out / "filter.json").is_file() and (out / "copy_filter.json").is_file()
    assert len(_digests(out)) == 4
    # the copy filter's counts are of what was asked and written, not of the 2x pool
    copies = json.loads((out / "copy_filter.json").read_text())
    assert (copies["requested"], copies["written"]) == (4, 4)
    assert all((c["requested"], c["written"]) == (2, 2) for c in copies["per_class"].values())


def test_filter_pool_holds_copies_not_views_of_the_generated_chunks(run, tmp_path, monkeypatch):
    """A kept candidate that were a view into its chunk would keep the whole chunk in memory:
    what the streaming choice is handed owns its pixels."""
    from gaunet import class_filter

    handed = []
    add = class_filter.StreamingChoice.add

    def recording_add(self, label, image, payload):
        handed.append((image, payload[2]))
        add(self, label, image, payload)

    monkeypatch.setattr(class_filter.StreamingChoice, "add", recording_add)
    generate_dataset(run, tmp_path / "o", per_class=2, seed=1, filter_pool=3)
    assert len(handed) == 12
    assert all(image.base is None and kept is image for image, kept in handed)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--max-copy-rate", "2"], r"--max-copy-rate must be in \[0, 1\]"),
        (["--seed", "-1"], "seed must be in 0.."),
        (["--device", "gpu"], "device 'gpu': use auto, cpu, cuda or cuda:N"),
    ],
)
def test_a_bad_option_leaves_an_earlier_generation_whole(run, tmp_path, capsys, options, message):
    """A bad option pointed at a folder of an earlier generation deleted its manifest before
    the option was checked (a bad seed or device was a traceback)."""
    out = tmp_path / "o"
    args = ["generate", "--run", str(run), "--out", str(out), "--per-class", "2", "--quiet"]
    assert cli_main(args) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert cli_main([*args, *options]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and __import__("re").search(message, err)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert cli_main([*args[:4], str(tmp_path / "new"), *args[5:], "--seed", "-1"]) == 2
    assert not (tmp_path / "new").exists()


def test_a_rerun_in_another_format_or_without_a_filter_leaves_no_earlier_record(run, tmp_path):
    out = tmp_path / "o"
    generate_dataset(run, out, per_class=2, filter_pool=2)
    assert (out / "manifest.csv").is_file() and (out / "filter.json").is_file()
    generate_dataset(run, out, per_class=3, fmt="npz")
    assert not (out / "manifest.csv").exists() and not (out / "filter.json").exists()
    assert not list(out.rglob("*.png"))  # read as a class-folder source, they were the images
    assert len(load_source(out / "synthetic.npz", size=16, channels=1)) == 3 * 2
    generate_dataset(run, out, per_class=1)  # and back: fewer images than the npz held
    assert not (out / "synthetic.npz").exists() and len(_digests(out)) == 2
    generate_dataset(run, out, per_class=4)
    generate_dataset(run, out, per_class=2)  # fewer PNGs: none left unlisted
    data = load_source(out, size=16, channels=1)
    assert len(data) == 4 and not data.problems


@pytest.mark.parametrize("name", ["manifest.csv", "provenance.csv"])
def test_a_dataset_folder_as_out_is_refused_and_its_images_kept(run, tmp_path, capsys, name):
    """--out naming a dataset folder (a manifest of the user's images) deleted every image its
    manifest listed, taking them for an earlier generation's, and replaced the manifest."""
    out = tmp_path / "data"
    for k in range(2):
        (out / "a").mkdir(parents=True, exist_ok=True)
        (out / "a" / f"{k}.png").write_bytes(b"png")
    (out / name).write_text("path,label\na/0.png,a\na/1.png,a\n")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    args = ["generate", "--run", str(run), "--out", str(out), "--per-class", "2", "--quiet"]
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"holds a {name} that gaunet generate did not write" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("where", ["benign/0.png", "scan.JPG"])
def test_a_class_folder_dataset_as_out_is_refused(run, tmp_path, capsys, where):
    """--out naming a class-folder dataset (images, no manifest): the generation wrote its
    manifest there, and the folder then read as the generated images alone."""
    out = tmp_path / "data"
    (out / where).parent.mkdir(parents=True)
    (out / where).write_bytes(b"image")
    args = ["generate", "--run", str(run), "--out", str(out), "--per-class", "2", "--quiet"]
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "holds images no gaunet generate manifest lists" in err
    assert where.split("/")[-1] in err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == sorted(
        {where, *([where.split("/")[0]] if "/" in where else [])}
    )


def test_a_checkpoint_of_another_run_is_refused(run, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(GaunetError, match="is not inside --run"):
        generate_dataset(other, tmp_path / "o", 2, checkpoint=run / "checkpoints" / "last.pt")
    path = generate_dataset(run, tmp_path / "o", 2, checkpoint=run / "checkpoints" / "last.pt")
    assert path.is_file()
    # the checkpoints/ folder itself means its last one (was "checkpoints/checkpoints: no
    # checkpoint found")
    again = generate_dataset(run, tmp_path / "p", 2, checkpoint=run / "checkpoints")
    assert _digests(tmp_path / "p") == _digests(tmp_path / "o") and again.is_file()


@pytest.mark.parametrize("out", ["grid", "grid.jpg", "."])
def test_compare_wants_a_png_to_write(run, tmp_path, capsys, out):
    target = str(tmp_path / out)
    assert cli_main(["compare", "--runs", str(run), "--out", target]) == 2
    assert "give a PNG file to write" in capsys.readouterr().err


def test_a_class_with_one_training_image_is_named_and_not_generated(tmp_path):
    """The pair sampler leaves such a class out, so the generator never trains on it (its
    class embedding stays as initialised); it was generated anyway, without a word."""
    import warnings as _warnings

    from train_helpers import PHANTOM, TINY

    from gaunet.data import ImageSet
    from gaunet.errors import GaunetWarning
    from gaunet.training import train

    base = load_source(PHANTOM, size=16, channels=1)
    labels = np.asarray([0] * 6 + [1] * 6 + [2])
    rows = np.concatenate(
        [np.flatnonzero(base.labels == 0)[:6], np.flatnonzero(base.labels == 1)[:7]]
    )
    data = ImageSet(
        images=base.images[rows], labels=labels, class_names=["a", "b", "c"],
        groups=base.groups[rows], ids=base.ids[rows], split=np.full(13, "train"),
    )  # fmt: skip
    with pytest.warns(GaunetWarning, match="'c' have fewer than 2 training images"):
        run = train(data, tmp_path / "run", config="cpu-tiny", overrides=TINY, steps=2)
    assert json.loads((run / "run.json").read_text())["unpaired_classes"] == ["c"]
    with pytest.warns(GaunetWarning, match="'c' left out"):
        manifest = generate_dataset(run, tmp_path / "g", per_class=2)
    with open(manifest, newline="") as handle:
        assert sorted(row["class"] for row in csv.DictReader(handle)) == ["a", "a", "b", "b"]
    with _warnings.catch_warnings(), pytest.raises(GaunetError, match="never trained on"):
        _warnings.simplefilter("ignore")
        generate_dataset(run, tmp_path / "h", per_class=[0, 0, 3])
