import numpy as np
import pytest
import torch
from PIL import Image
from train_helpers import tiny_train

from gaunet.cli import main
from gaunet.errors import GaunetError
from gaunet.report.compare_grid import HEADER_HEIGHT, LABEL_WIDTH, compare_grid, tile_side
from gaunet.report.curves import plot_losses, read_metrics
from gaunet.trained_generator import load_generator


def grid_of_runs(runs, out, per_class=2, seed=0):
    """compare_grid of the generators of these run folders, loaded as `gaunet compare` does."""
    generators = [load_generator(run, device="cpu") for run in runs]
    return compare_grid(generators, out, per_class=per_class, seed=seed)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine, more threads only add contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, one_thread):
    """GAU-Net, GAN and cGAN runs on the same 2-class phantom, 16 px, a few steps each."""
    root = tmp_path_factory.mktemp("runs")
    made = {
        "gaunet": tiny_train(root / "gaunet", steps=4, log_every=2),
        "gan": tiny_train(root / "gan", steps=4, log_every=2, model="gan", n_critic=1),
        "cgan": tiny_train(root / "cgan", steps=4, log_every=2, model="cgan", n_critic=1),
    }
    return made


def test_tile_side_is_an_integer_enlargement_to_at_least_64():
    assert [tile_side(s) for s in (16, 28, 32, 64, 256)] == [64, 84, 64, 64, 256]


@pytest.mark.parametrize("per_class", [1, 3])
def test_grid_has_the_documented_pixel_size(runs, tmp_path, per_class):
    out = grid_of_runs([runs["gaunet"], runs["gan"], runs["cgan"]], tmp_path / "c.png", per_class)
    width, height = Image.open(out).size
    tile = 64  # 16 px images enlarged 4x; 2 px padding between and around tiles
    assert width == LABEL_WIDTH + 4 * (tile + 2) + 2  # real + 3 runs
    assert height == HEADER_HEIGHT + 2 * per_class * (tile + 2) + 2  # 2 classes x K rows


def test_real_column_shows_training_images_and_gaunet_is_conditioned_on_them(runs, tmp_path):
    out = grid_of_runs([runs["gaunet"], runs["gan"]], tmp_path / "c.png", per_class=1, seed=5)
    canvas = np.asarray(Image.open(out).convert("L"))
    tile, top, left = 64, HEADER_HEIGHT + 2, LABEL_WIDTH + 2
    real_tile = canvas[top : top + tile, left : left + tile][::4, ::4]
    with np.load(runs["gaunet"] / "train_images.npz") as saved:
        train = saved["images"][:, 0]
    assert any(np.array_equal(real_tile, image) for image in train)
    gen = load_generator(runs["gaunet"], device="cpu")
    real = gen.train_images.images[gen.conditioning_rows(0, 1, 5)]
    expected = gen.sample(0, 1, 5, conditioning=torch.from_numpy(real).float() / 127.5 - 1)
    expected = ((expected[0, 0].numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
    generated = canvas[top : top + tile, left + tile + 2 : left + 2 * tile + 2][::4, ::4]
    assert np.abs(generated.astype(int) - expected).max() <= 1


def test_same_seed_same_figure_other_seed_other_figure(runs, tmp_path):
    paths = [runs["gaunet"], runs["cgan"]]
    a = grid_of_runs(paths, tmp_path / "a.png", per_class=2, seed=1)
    b = grid_of_runs(paths, tmp_path / "b.png", per_class=2, seed=1)
    c = grid_of_runs(paths, tmp_path / "c.png", per_class=2, seed=2)
    assert a.read_bytes() == b.read_bytes()
    assert not np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(c)))


def test_runs_on_different_data_are_refused(runs, tmp_path):
    other = tiny_train(tmp_path / "other", steps=1, data="phantom:n=12,classes=3")
    with pytest.raises(GaunetError, match="classes"):
        grid_of_runs([runs["gaunet"], other], tmp_path / "c.png")


def test_loss_curves_read_each_runs_metrics(runs, tmp_path):
    assert [r["step"] for r in read_metrics(runs["gan"])] == [2, 4]
    out = plot_losses(list(runs.values()), tmp_path / "losses.png")
    width, height = Image.open(out).size
    assert (width, height) == (1000, 360)  # two 5 x 3.6 inch panels at 100 dpi
    with pytest.raises(GaunetError, match="metrics.jsonl"):
        plot_losses([tmp_path], tmp_path / "none.png")


def test_cli_writes_grid_and_curves(runs, tmp_path, capsys):
    args = ["compare", "--runs", str(runs["gaunet"]), str(runs["gan"]), "--out"]
    args += [str(tmp_path / "fig.png"), "--per-class", "1", "--losses", str(tmp_path / "l.png")]
    assert main(args) == 0
    assert (tmp_path / "fig.png").is_file() and (tmp_path / "l.png").is_file()
    assert main(["compare", "--runs", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    assert "gaunet compare: error:" in capsys.readouterr().err


def test_cli_device_defaults_to_auto_like_the_other_commands(runs, tmp_path, monkeypatch, capsys):
    """`--device` is the shared option (gaunet.cli.add_device_argument, as in benchmark,
    evaluate and demo): auto unless named, given to every generator; cuda without CUDA is one
    line, exit 2, and no figure."""
    import gaunet.trained_generator as trained_generator
    from gaunet.cli import build_parser

    assert build_parser().parse_args(["compare", "--runs", "r", "--out", "f"]).device == "auto"
    asked = []
    real = trained_generator.load_generator

    def spy(run, device=None, **kwargs):
        asked.append(device)
        return real(run, device=device, **kwargs)

    monkeypatch.setattr(trained_generator, "load_generator", spy)
    args = ["compare", "--runs", str(runs["gaunet"]), str(runs["gan"]), "--per-class", "1"]
    assert main([*args, "--out", str(tmp_path / "auto.png")]) == 0
    assert asked == ["auto", "auto"] and (tmp_path / "auto.png").is_file()
    assert main([*args, "--out", str(tmp_path / "cpu.png"), "--device", "cpu"]) == 0
    assert asked[2:] == ["cpu", "cpu"]
    if not torch.cuda.is_available():
        capsys.readouterr()
        assert main([*args, "--out", str(tmp_path / "gpu.png"), "--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
        assert not (tmp_path / "gpu.png").exists()


def test_cli_refuses_what_it_found_only_after_loading_and_drawing(runs, tmp_path, capsys):
    """`--per-class 0` was refused after every generator had loaded, and a run without
    metrics.jsonl for `--losses` after the grid was drawn and written."""
    import shutil

    args = ["compare", "--runs", "/no/such/run", "--out", str(tmp_path / "a.png")]
    assert main([*args, "--per-class", "0"]) == 2
    assert "--per-class must be at least 1" in capsys.readouterr().err
    unlogged = tmp_path / "unlogged"
    shutil.copytree(runs["gaunet"], unlogged)
    (unlogged / "metrics.jsonl").unlink()
    out = tmp_path / "grid.png"
    command = ["compare", "--runs", str(runs["gan"]), str(unlogged), "--out", str(out),
               "--losses", str(tmp_path / "losses.png")]  # fmt: skip
    assert main(command) == 2
    assert "metrics.jsonl: missing" in capsys.readouterr().err and not out.exists()
