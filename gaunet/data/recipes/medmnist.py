"""`gaunet data prepare medmnist:FLAG --out DIR`: MedMNIST v2 via the `medmnist` package.

gaunet reads MedMNIST `.npz` files natively as a SOURCE (official split kept), so this recipe
is only a convenience for users who have the `medmnist` package (it needs torchvision, which
gaunet does not install) and a network connection. Without either, the error says what to do.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from gaunet.data.imageset import SPLITS
from gaunet.data.recipes.common import Item, PrepareOptions, write_prepared
from gaunet.errors import GaunetError

FLAGS_2D = (
    "pathmnist",
    "dermamnist",
    "octmnist",
    "pneumoniamnist",
    "retinamnist",
    "breastmnist",
    "bloodmnist",
    "tissuemnist",
    "organamnist",
    "organcmnist",
    "organsmnist",
)
DOWNLOAD_HINT = (
    "download {flag}.npz from https://zenodo.org/records/10519652 (MedMNIST v2, CC BY 4.0) "
    "and pass the .npz itself as the SOURCE (e.g. `gaunet data inspect {flag}.npz`); "
    "gaunet reads MedMNIST .npz files natively, official split included"
)


def prepare_medmnist(
    name: str,
    out: Path,
    size: int = 256,
    channels: int = 3,
    seed: int = 0,
    resplit: bool = False,
    overwrite: bool = False,
) -> Path:
    """Download FLAG with the medmnist package and write it as a prepared dataset (official
    split kept unless `resplit`, as every recipe)."""
    flag = name.split(":", 1)[1].strip().lower()
    if flag not in FLAGS_2D:
        raise GaunetError(
            f"unsupported MedMNIST flag {flag!r} (chestmnist is multi-label); "
            f"single-label 2D flags: {', '.join(FLAGS_2D)}"
        )
    hint = DOWNLOAD_HINT.format(flag=flag)
    try:
        import medmnist
    except ImportError:
        raise GaunetError(f"the `medmnist` package is not installed; {hint}") from None
    with tempfile.TemporaryDirectory() as download:
        dataset_class = getattr(medmnist, medmnist.INFO[flag]["python_class"])
        try:
            dataset_class(split="train", download=True, root=download)
        except Exception as error:  # noqa: BLE001 - network failures come in many types
            raise GaunetError(f"could not download {flag} ({error}); {hint}") from None
        labels = medmnist.INFO[flag]["label"]
        class_names = [labels[key] for key in sorted(labels, key=int)]
        with np.load(Path(download) / f"{flag}.npz") as arrays:
            items = [
                Item(
                    label=class_names[int(label[0])],
                    group=f"{split}/{index}",
                    name=f"{split}-{index:06d}",
                    source=f"{flag}.npz {split}[{index}]",
                    load=lambda image=image: image,
                    split=split,
                )
                for split in SPLITS
                for index, (image, label) in enumerate(
                    zip(arrays[f"{split}_images"], arrays[f"{split}_labels"], strict=True)
                )
            ]
    return write_prepared(
        items,
        Path(out),
        recipe=name,
        root=Path(f"medmnist:{flag}"),
        class_names=class_names,
        options=PrepareOptions(size=size, channels=channels, seed=seed, resplit=resplit),
        overwrite=overwrite,
    )
