"""Every measure by name: how to compute it from cached lists, its maximum and chance, and
whether it has a cheap permutation null. :func:`nnoverlap.measure`, the nulls and
:func:`nnoverlap.compare_many` all read this table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .lists import ITEMS, Pair, cknna_self, cknna_value
from .neighbors import Neighbors
from .ranks import RankCache, mrre_items, tnc_items

__all__ = ["MEASURES", "Spec", "cknna_selves", "list_values", "spec"]


@dataclass(frozen=True)
class Spec:
    """How one measure is computed from the two sets' cached lists."""

    name: str
    #: "list": per-item values from the lists (nulls and bootstrap cheap); "value": a score
    #: from the lists with no per-item values (cknna); "data": needs the vectors (ranks beyond
    #: k or scores of other pairs): per-item values, no cheap null; "global": one number, no k.
    kind: str
    needs_data: bool = False
    metric: str | None = None  # forced metric (cknna: cosine)

    @property
    def symmetric(self) -> bool:
        """m(A, B) = m(B, A) (cknna is not: its masked kernels are not symmetric matrices)."""
        return self.name not in ("cycle_knn", "cknna", "trustworthiness", "continuity") and not (
            self.name.startswith("mrre")
        )

    def s_max(self, n: int, k: int | None) -> float:
        if self.name == "lcmc" and k is not None:
            return 1.0 - k / (n - 1)
        return 1.0

    def chance(self, n: int, k: int | None) -> float | None:
        if self.name in ("mnno", "mutual_knn") and k is not None:
            return k / (n - 1)
        if self.name == "lcmc":
            return 0.0
        return None


_SPECS = [
    *(Spec(name, "list") for name in ITEMS),
    Spec("cknna", "value", metric="cosine"),
    Spec("trustworthiness", "data", needs_data=True),
    Spec("continuity", "data", needs_data=True),
    Spec("mrre_false", "data", needs_data=True),
    Spec("mrre_missing", "data", needs_data=True),
    Spec("second_order_cosine", "data", needs_data=True),
    Spec("rnx_auc", "global", needs_data=True),
    Spec("linear_cka", "global", needs_data=True),
]
MEASURES: dict[str, Spec] = {s.name: s for s in _SPECS}


def spec(name: str) -> Spec:
    if not isinstance(name, str) or name not in MEASURES:
        raise ValueError(f"unknown measure {name!r}; expected one of {', '.join(MEASURES)}")
    return MEASURES[name]


Selves = dict[int, tuple[float, float]]


def list_values(
    p: Pair, name: str, ks: Sequence[int], selves: Selves | None = None
) -> list[np.ndarray | float]:
    """Per-item arrays (list measures) or values (cknna) at each k, from a built pair.
    ``selves[k]``: cknna's per-set terms at k (they do not change under relabelling)."""
    if name == "cknna":
        return [cknna_value(p, k, None if selves is None else selves.get(k)) for k in ks]
    fn: Callable[[Pair, int], np.ndarray] = ITEMS[name]
    return [fn(p, k) for k in ks]


def mean_of(v: Any, name: str, k: int | None) -> float:
    """The value of a measure from its per-item array (or the value itself). mNNO's is
    sum(o_i) / (k n), exactly as ``nnoverlap.mnno`` computes it (the mean of the rounded
    o_i / k can differ in the last bit)."""
    if not isinstance(v, np.ndarray):
        return float(v)
    if name == "mnno" and k and v.size:
        return float(np.rint(v * k).sum() / (k * v.size))
    return float(np.mean(v))


def cknna_selves(na: Neighbors, nb: Neighbors, ks: Sequence[int]) -> Selves:
    return {k: (cknna_self(na, k), cknna_self(nb, k)) for k in ks}


def data_items(
    name: str,
    na: Neighbors,
    nb: Neighbors,
    ks: list[int],
    threads: int | None,
    cache: RankCache | None = None,
) -> list[np.ndarray]:
    """Per-item arrays at each k of a measure that needs the vectors; ``cache`` holds the
    cross ranks found so far (shared by trustworthiness, continuity and MRRE)."""
    from .second_order import second_order_cosine

    if name == "trustworthiness":
        return tnc_items(na, nb, ks, threads, cache)
    if name == "continuity":
        return tnc_items(nb, na, ks, threads, cache)
    if name in ("mrre_false", "mrre_missing"):
        false, missing = mrre_items(na, nb, ks, threads, cache)
        return false if name == "mrre_false" else missing
    if name == "second_order_cosine":
        x = np.asarray(
            second_order_cosine(na, nb, ks, metric=na.metric, threads=threads, per_item=True)
        )
        return [x] if x.ndim == 1 else [x[:, c] for c in range(x.shape[1])]
    raise ValueError(f"{name} has no per-item values")


def global_value(name: str, na: Neighbors, nb: Neighbors, threads: int | None) -> float:
    from .cka import linear_cka
    from .ranks import rnx_auc

    if name == "linear_cka":
        return linear_cka(na, nb)
    return rnx_auc(na, nb, metric=na.metric, threads=threads)
