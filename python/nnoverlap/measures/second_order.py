"""Second-order cosine similarity (Hamilton et al. 2016; ReSi): compares the distances of each
item to the union of its two neighbourhoods, from direct dot products of those <= 2k pairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from .lists import Pair, pair_lists, typed
from .neighbors import SetLike
from .primitives import pair_scores

__all__ = ["second_order_cosine"]

KSpec = Union[int, Sequence[int]]


def _items(p: Pair, xa: np.ndarray, xb: np.ndarray, k: int, threads: int | None) -> np.ndarray:
    n = p.n
    rows = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], (n, k))
    extra = ~p.shared(k)  # B's neighbours outside A's first k: the rest of U
    r = np.concatenate([rows.ravel(), rows[extra]])
    c = np.concatenate([p.ia[:, :k].ravel(), p.ib[:, :k][extra]])
    da = 1.0 - pair_scores(xa, r, c, "cosine", threads).astype(np.float64)
    db = 1.0 - pair_scores(xb, r, c, "cosine", threads).astype(np.float64)
    dot = np.bincount(r, weights=da * db, minlength=n)
    na = np.sqrt(np.bincount(r, weights=da * da, minlength=n))
    nb = np.sqrt(np.bincount(r, weights=db * db, minlength=n))
    den = na * nb
    return np.divide(dot, den, out=np.zeros(n), where=den > 0)


@typed
def second_order_cosine(
    a: SetLike,
    b: SetLike,
    k: KSpec = 10,
    *,
    metric: str = "cosine",
    threads: int | None = None,
    per_item: bool = False,
) -> Any:
    """Second-order cosine similarity (ReSi ``second_order_cosine_similarity``): with
    U = N_A(i) ∪ N_B(i) and d_S(i, j) = 1 - cos_S(i, j), the cosine of the vectors
    (d_A(i, j))_{j∈U} and (d_B(i, j))_{j∈U}, averaged over items (0 for an item where one of
    them is zero). Neighbours by ``metric``; distances always cosine, as in ReSi. Needs the
    vectors (arrays, or Neighbors carrying them): O(n k d) direct dot products.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.random.default_rng(0).normal(size=(50, 6))
    >>> round(nno.second_order_cosine(A, 2 * A, k=5), 12)
    1.0
    """
    na, nb, ks, single = pair_lists(a, b, k, metric, threads, need_data=True)
    assert na.data is not None and nb.data is not None
    p = Pair.build(na, nb, max(ks))
    cols = [_items(p, na.data, nb.data, kk, threads) for kk in ks]
    if per_item:
        return cols[0] if single else np.stack(cols, axis=1)
    values = np.array([float(np.mean(c)) for c in cols])
    return float(values[0]) if single else values
