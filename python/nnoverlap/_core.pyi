"""Type stubs of the Rust extension. Call the checked wrappers in ``nnoverlap`` instead."""

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "FormatError",
    "KERNEL",
    "__version__",
    "detect_format",
    "first_nonfinite_row",
    "first_row_above",
    "first_zero_row",
    "knn",
    "overlap",
    "pair_scores",
    "rank_counts",
    "read_embeddings",
    "write_embeddings",
]
__version__: str
KERNEL: str

def knn(
    x: npt.NDArray[np.floating[Any]],
    base: npt.NDArray[np.floating[Any]] | None,
    k: int,
    metric: str,
    include_self: bool,
    threads: int | None,
    block: int,  # rows per block; 0 chooses automatically
    progress: Callable[[int, int], Any] | None = None,
) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.int64]]: ...
def first_nonfinite_row(x: npt.NDArray[np.floating[Any]]) -> int | None: ...
def first_zero_row(x: npt.NDArray[np.floating[Any]]) -> int | None: ...
def first_row_above(x: npt.NDArray[np.floating[Any]], limit: float) -> int | None: ...
def overlap(
    a: npt.NDArray[np.int64], b: npt.NDArray[np.int64], ks: list[int]
) -> npt.NDArray[np.int64]: ...
def rank_counts(
    x: npt.NDArray[np.floating[Any]],
    chosen: npt.NDArray[np.int64],
    metric: str,
    threads: int | None,
    block: int,  # rows per block; 0 chooses automatically
    progress: Callable[[int, int], Any] | None = None,
) -> npt.NDArray[np.int64]: ...
def pair_scores(
    x: npt.NDArray[np.floating[Any]],
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    metric: str,
    threads: int | None,
) -> npt.NDArray[np.floating[Any]]: ...

class FormatError(ValueError):
    path: str
    line: int | None
    row: int | None
    byte: int | None

def read_embeddings(
    data: npt.NDArray[np.uint8],
    name: str,
    format: str,
    limit: int | None,
    dtype: str,
    errors: str,
    duplicates: str,
    threads: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> tuple[list[str], npt.NDArray[np.floating[Any]], int | None, int]: ...
def detect_format(data: npt.NDArray[np.uint8], name: str) -> str: ...
def write_embeddings(
    path: str,
    words: list[str],
    vectors: npt.NDArray[np.floating[Any]],
    format: str,
    precision: int | None = None,
) -> None: ...
