"""init_from of another architecture: the refusal names a tensor whose shape differs, so the
setting that differs can be found (it said only "another architecture")."""

import pytest
import torch
from train_helpers import TINY, tiny_train

from gaunet.config import load_config
from gaunet.errors import GaunetError
from gaunet.training.loss import build_family
from gaunet.training.warm_start import warm_start


def test_a_source_of_other_widths_is_refused_naming_a_shape_that_differs(tmp_path):
    source = tiny_train(tmp_path / "source", steps=1)
    cfg = load_config("cpu-tiny", {**TINY, "g_width": 6, "g_width_max": 12})
    torch.manual_seed(0)
    generator, critic = build_family(cfg, 2).build()
    with pytest.raises(
        GaunetError, match=r"no weights fit.*e\.g\. generator\.\S+ \S*4\S* there, \S*6\S* here"
    ):
        warm_start(generator, critic, source, "gaunet", ["a", "b"])
