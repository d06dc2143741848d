"""Type stubs of the Rust extension. Call the checked wrappers in ``nnoverlap`` instead."""

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str
DEFAULT_BLOCK: int

def knn(
    x: npt.NDArray[np.floating[Any]],
    base: npt.NDArray[np.floating[Any]] | None,
    k: int,
    metric: str,
    include_self: bool,
    threads: int | None,
    block: int,
    progress: Callable[[int, int], Any] | None = None,
) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.int64]]: ...
def first_nonfinite_row(x: npt.NDArray[np.floating[Any]]) -> int | None: ...
def first_zero_row(x: npt.NDArray[np.floating[Any]]) -> int | None: ...
def overlap(
    a: npt.NDArray[np.int64], b: npt.NDArray[np.int64], ks: list[int]
) -> npt.NDArray[np.int64]: ...
