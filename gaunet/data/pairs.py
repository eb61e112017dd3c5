"""Same-class pair sampling for the pair critic (Algorithm 1): (x_i, x_j) never cross classes."""

from __future__ import annotations

import numpy as np
import torch


class PairSampler:
    """Draws index pairs (i, j), i != j, of one class; classes uniform when `balance`.

    Classes with fewer than two images cannot form a pair and are left out (the data layer
    reports them). `rank`/`world_size` give each distributed process its own stream.
    """

    def __init__(
        self,
        labels: np.ndarray,
        seed: int = 0,
        balance: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        labels = np.asarray(labels)
        self.by_class = {
            int(c): np.flatnonzero(labels == c)
            for c in np.unique(labels)
            if (labels == c).sum() >= 2
        }
        if not self.by_class:
            raise ValueError("no class has two images, so no same-class pair can be drawn")
        self.classes = np.asarray(sorted(self.by_class))
        sizes = np.asarray([len(self.by_class[c]) for c in self.classes], dtype=np.float64)
        self.class_p = None if balance else sizes / sizes.sum()
        self.generator = torch.Generator().manual_seed(seed * 1000003 + rank)
        self.world_size = world_size

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=self.generator)))

    def sample(self, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns index arrays i, j and the class of each pair."""
        rng = self._rng()
        classes = rng.choice(self.classes, size=batch, p=self.class_p)
        first = np.empty(batch, dtype=np.int64)
        second = np.empty(batch, dtype=np.int64)
        for c in np.unique(classes):
            rows = np.flatnonzero(classes == c)
            members = self.by_class[int(c)]
            a = rng.integers(0, len(members), size=len(rows))
            b = (a + rng.integers(1, len(members), size=len(rows))) % len(members)
            first[rows], second[rows] = members[a], members[b]
        return first, second, classes.astype(np.int64)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
