"""Real data bundled with the package, for the demo, examples and quick experiments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

_DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class ImageNet1k:
    """The 1,000 ImageNet classes in two modalities, rows in class-index order.

    - ``visual``: (1000, 1280) the row of EfficientNet-Lite0's ImageNet classifier for each
      class (a visual prototype of the class).
    - ``minilm``: (1000, 384) all-MiniLM-L6-v2 embedding of the class name, L2-normalised.
    - ``glove``: (1000, 50) mean GloVe-6B-50d vector of the name's tokens; **25 rows are NaN**
      (a token missing from GloVe). Drop them before use: ``glove_rows`` lists the others.
    - ``names``, ``wnids``: first WordNet lemma and WordNet id of each class.

    Stored as float16 to keep the wheel small; returned as float32.
    """

    visual: np.ndarray
    minilm: np.ndarray
    glove: np.ndarray
    names: list[str]
    wnids: list[str]

    @property
    def glove_rows(self) -> np.ndarray:
        """Indices of the classes whose GloVe vector is defined (no NaN)."""
        return np.flatnonzero(~np.isnan(self.glove).any(axis=1))


def imagenet1k() -> ImageNet1k:
    """Load the bundled ImageNet-1k visual / text pair.

    >>> from nnoverlap.datasets import imagenet1k
    >>> data = imagenet1k()
    >>> data.visual.shape, data.minilm.shape, len(data.glove_rows)
    ((1000, 1280), (1000, 384), 975)
    """
    with np.load(_DATA / "imagenet1k.npz", allow_pickle=False) as z:
        return ImageNet1k(
            visual=z["visual"].astype(np.float32),
            minilm=z["minilm"].astype(np.float32),
            glove=z["glove"].astype(np.float32),
            names=[str(s) for s in z["names"]],
            wnids=[str(s) for s in z["wnids"]],
        )
