"""Type stubs of the Rust extension. Call the checked wrappers in ``nnoverlap`` instead."""

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "_block_pair",
    "_block_query",
    "_centre",
    "_centre_rows",
    "_finish",
    "_merge",
    "_pair_scores",
    "_panic_for_tests",
    "_scan",
    "_screen_counters",
    "FormatError",
    "KERNEL",
    "SCREEN",
    "__version__",
    "detect_format",
    "THREAD_LIMIT",
    "WHAT_WE_READ",
    "knn",
    "overlap",
    "rank_counts",
    "knn_ranked",
    "find_in_rows",
    "masked_hsic",
    "pair_stats",
    "read_embeddings",
    "read_file",
    "sniff",
    "write_embeddings",
]
__version__: str
KERNEL: str
SCREEN: bool  # whether this CPU runs the int8 screen (AVX-512 VNNI)
THREAD_LIMIT: int

def knn(
    x: npt.NDArray[np.floating[Any]],
    base: npt.NDArray[np.floating[Any]] | None,
    k: int,
    metric: str,
    include_self: bool,
    threads: int | None,
    block: int,  # rows per block; 0 chooses automatically
    progress: Callable[[int, int], Any] | None = None,
    name: str = "x",
    base_name: str = "base",
    screen: str = "auto",  # "auto" | "on" | "off": the int8 screen (cosine f32 self-join)
) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.int64]]: ...
def overlap(
    a: npt.NDArray[np.int64],
    b: npt.NDArray[np.int64],
    ks: list[int],
    threads: int | None = None,
) -> npt.NDArray[np.int64]: ...
def find_in_rows(
    lists: npt.NDArray[np.int64], rows: npt.NDArray[np.int64], values: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]: ...
def masked_hsic(
    ia: npt.NDArray[np.int64],
    sa: npt.NDArray[np.float64],
    ib: npt.NDArray[np.int64],
    sb: npt.NDArray[np.float64],
    k: int,
) -> float: ...
def pair_stats(
    lists: list[npt.NDArray[np.int64]],
    scores: list[npt.NDArray[np.float64]],
    k: int,
    pairs: npt.NDArray[np.int64],
    reverse: bool = False,  # also the HSIC of (b, a); rows must not repeat an item
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def rank_counts(
    x: npt.NDArray[np.floating[Any]],
    chosen: npt.NDArray[np.int64],
    metric: str,
    threads: int | None,
    block: int,  # rows per block; 0 chooses automatically
    progress: Callable[[int, int], Any] | None = None,
) -> npt.NDArray[np.int64]: ...
def knn_ranked(
    x: npt.NDArray[np.floating[Any]],
    k: int,
    chosen: npt.NDArray[np.int64],
    metric: str,
    threads: int | None,
    block: int,  # rows per block; 0 chooses automatically
    progress: Callable[[int, int], Any] | None = None,
    name: str = "x",
) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...

# Building blocks of the distributed path (nnoverlap.distributed) and the measures: keys are
# ranking keys of prepared rows (see src/prep.rs), indices uint32 with u32::MAX for empty slots.
_F = npt.NDArray[np.floating[Any]]
_U = npt.NDArray[np.uint32]

def _scan(x: _F, metric: str, name: str, row_offset: int) -> float: ...
def _centre_rows(n: int) -> list[int]: ...
def _centre(sample: _F) -> _F: ...
def _block_pair(
    xi: _F,
    i0: int,
    xj: _F,
    j0: int,
    k: int,
    metric: str,
    max_abs: float,
    centre: _F | None,
) -> tuple[_F, _U, _F, _U]: ...
def _block_query(
    q: _F,
    base: _F,
    base_offset: int,
    query_offset: int | None,
    k: int,
    metric: str,
    max_abs: float,
    centre: _F | None,
) -> tuple[_F, _U]: ...
def _merge(keys_a: _F, idx_a: _U, keys_b: _F, idx_b: _U) -> tuple[_F, _U]: ...
def _finish(keys: _F, idx: _U, metric: str, max_abs: float) -> tuple[_F, npt.NDArray[np.int64]]: ...
def _pair_scores(
    x: _F,
    base: _F | None,
    pairs: npt.NDArray[np.int64],
    metric: str,
    threads: int | None = None,
) -> _F: ...

class FormatError(ValueError):
    path: str
    line: int | None
    row: int | None
    byte: int | None

def read_embeddings(
    data: npt.NDArray[np.uint8],
    name: str,
    format: str | None,
    limit: int | None,
    dtype: str,
    errors: str,
    duplicates: str,
    threads: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
    nonfinite: str = "error",
    chunk: int = 0,
) -> tuple[list[str], npt.NDArray[np.floating[Any]], str, int | None, int, list[str]]: ...
def read_file(
    path: str,
    name: str,
    format: str | None,
    limit: int | None,
    dtype: str,
    errors: str,
    duplicates: str,
    threads: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
    nonfinite: str = "error",
    chunk: int = 0,
) -> tuple[list[str], npt.NDArray[np.floating[Any]], str, int | None, int, list[str]]: ...
def sniff(head: bytes) -> tuple[str, str] | None: ...
def detect_format(data: npt.NDArray[np.uint8], name: str) -> str: ...

WHAT_WE_READ: str

def write_embeddings(
    path: str,
    words: list[str],
    vectors: npt.NDArray[np.floating[Any]],
    format: str,
    precision: int | None = None,
) -> None: ...
def _panic_for_tests(in_pool: bool) -> None: ...
def _screen_counters() -> tuple[int, int]: ...
