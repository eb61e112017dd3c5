"""Suite-wide settings: no progress bars, a private decoded-image cache, quiet threads."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("GAUNET_NO_PROGRESS", "1")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep every test's decoded-image cache (and domain-classifier cache) out of ~/.cache."""
    os.environ["GAUNET_CACHE"] = str(tmp_path_factory.mktemp("gaunet-cache"))
