"""init_from (training/warm_start.py): the checkpoint named is the one loaded, and a class
embedding follows the class names, not their positions."""

import shutil

import pytest
import torch
from train_helpers import TINY, tiny_train

from gaunet.errors import GaunetError
from gaunet.training.checkpoint import load_checkpoint
from gaunet.training.warm_start import warm_start


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """Periodic snapshots at steps 2 and 4, last.pt at step 4."""
    out = tmp_path_factory.mktemp("hunt-warm") / "source"
    return tiny_train(out, steps=4, seed=5, periodic_every=2, checkpoint_every=2)


def _fresh_networks():
    from gaunet.config import load_config
    from gaunet.training.loss import build_family

    torch.manual_seed(123)
    return build_family(load_config("cpu-tiny", TINY), 2).build()


def test_the_same_classes_in_another_order_carry_each_class_its_own_row(source_run):
    """A source trained on [a, b] starting a run of [b, a]: the same classes, so the class
    embeddings are carried, each class taking the source's row of its own name (before: left
    as initialised and reported as "other classes")."""
    state, _, _ = load_checkpoint(source_run / "checkpoints" / "last.pt")
    names = list(state["class_names"])
    generator, critic = _fresh_networks()
    report = warm_start(generator, critic, source_run, "gaunet", names[::-1])
    assert not any("class embedding" in name for name in report.fresh), report.fresh
    for module, part, key in ((generator, "generator", "class_embed.weight"),
                              (critic, "critic", "embed.weight")):  # fmt: skip
        mine = module.state_dict()[key]
        theirs = state[part][key]
        torch.testing.assert_close(mine, theirs.flip(0), rtol=0, atol=0)
    # and the same order still carries the rows as they are
    generator, critic = _fresh_networks()
    warm_start(generator, critic, source_run, "gaunet", names)
    torch.testing.assert_close(
        generator.state_dict()["class_embed.weight"],
        state["generator"]["class_embed.weight"],
        rtol=0,
        atol=0,
    )


def test_a_named_checkpoint_that_is_corrupt_is_refused_not_swapped(source_run, tmp_path):
    """`--init-from RUN/checkpoints/step-000002.pt` names one snapshot: when that file is
    corrupt, the start is refused with its name, instead of loading last.pt (step 4) beside it
    and recording that as the transfer."""
    folder = tmp_path / "checkpoints"
    shutil.copytree(source_run / "checkpoints", folder)
    named = folder / "step-000002.pt"
    named.write_bytes(named.read_bytes()[:100])  # truncated
    generator, critic = _fresh_networks()
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    with pytest.raises(GaunetError, match="step-000002.pt"):
        warm_start(generator, critic, named, "gaunet", ["a", "b"])
    for name, tensor in generator.state_dict().items():
        torch.testing.assert_close(tensor, before[name], rtol=0, atol=0)
    # a healthy named snapshot is loaded as it is, not last.pt
    report = warm_start(*_fresh_networks(), source_run / "checkpoints" / "step-000002.pt",
                        "gaunet", ["a", "b"])  # fmt: skip
    assert report.source_step == 2 and report.checkpoint.endswith("step-000002.pt")


def test_the_gan_baselines_network_per_class_follows_its_class(tmp_path):
    """The gan baseline trains one network per class (`networks.K.`): a source of [a, b]
    starting a run of [b, a] put class a's network in class b's place."""
    from gaunet.config import load_config
    from gaunet.training.loss import build_family

    source = tiny_train(tmp_path / "gan", steps=2, model="gan")
    state, _, _ = load_checkpoint(source / "checkpoints" / "last.pt")
    names = list(state["class_names"])
    generator, critic = build_family(load_config("cpu-tiny", {**TINY, "model": "gan"}), 2).build()
    warm_start(generator, critic, source, "gan", names[::-1])
    mine, theirs = generator.state_dict(), state["generator"]
    keys = [k for k in mine if k.startswith("networks.0.") and mine[k].is_floating_point()]
    assert keys
    for key in keys:
        torch.testing.assert_close(mine[key], theirs[key.replace("networks.0.", "networks.1.", 1)])
