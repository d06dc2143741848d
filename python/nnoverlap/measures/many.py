"""Many measures at several k from one neighbour pass per set (:func:`measure`), and many sets
at once (:func:`compare_many`): each set's lists are found once; m x m (or m_a x m_b) matrices
come from cheap list comparisons, with the same permutations for every pair."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from .. import _api, _core
from .catalog import (
    MEASURES,
    Selves,
    Spec,
    cknna_selves,
    data_items,
    global_value,
    list_values,
    mean_of,
    spec,
)
from .lists import Pair, check_pair_n, cknna_self
from .neighbors import Neighbors, SetLike, n_of, resolve
from .nulls import check_alpha, check_null, permutations, permute
from .ranks import RankCache, ranked_lists
from .results import MeasureResult, MeasureResults, bootstrap_interval, null_summary

__all__ = ["CompareMany", "compare_many", "measure"]

KSpec = Union[int, Sequence[int]]


def _specs(measures: Any) -> list[Spec]:
    if isinstance(measures, str):
        measures = [measures]
    specs = [spec(m) for m in measures]
    if not specs:
        raise ValueError(f"measures must name at least one of {', '.join(MEASURES)}")
    return specs


def measure(
    a: SetLike,
    b: SetLike,
    k: KSpec = 10,
    *,
    measures: Sequence[str] | str = ("mnno",),
    metric: str = "cosine",
    threads: int | None = None,
    null: int | None = None,
    bootstrap: int | None = None,
    seed: int | None = 0,
    alpha: float = 0.05,
) -> MeasureResults:
    """Several measures at several k from one neighbour pass per set, as a table.

    ``measures``: names from ``nnoverlap.measures.catalog.MEASURES`` (``mnno``, ``jaccard``,
    ``rank_similarity``, ``joint_rank_jaccard``, ``lcmc``, ``cycle_knn``, ``cknna``,
    ``trustworthiness``, ``continuity``, ``mrre_false``, ``mrre_missing``,
    ``second_order_cosine``, and the global ``rnx_auc``, ``linear_cka``, reported once with
    k None). ``null=P``: a permutation null of P relabellings for the list measures (the same
    permutations for all of them). ``bootstrap=B``: a percentile interval from B resamples of
    the items, for measures with per-item values. ``seed`` seeds both; ``alpha`` is the level.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.random.default_rng(0).normal(size=(300, 8))
    >>> B = A + np.random.default_rng(1).normal(size=(300, 8))
    >>> res = nno.measure(A, B, k=[5, 10], measures=["mnno", "trustworthiness"], null=50)
    >>> r = res["mnno", 10]
    >>> r.chance == 10 / 299, r.p
    (True, 0.0196...)
    """
    specs = _specs(measures)
    metric = _api._check_metric(metric)
    threads = _api._check_threads(threads)
    alpha = check_alpha(alpha)
    P = None if null is None else check_null(null)
    reps = None if bootstrap is None else check_null(bootstrap)
    n = check_pair_n(a, b)
    high, what = _api._self_join_range(n)
    ks, _ = _api._check_ks(k, high, what)
    if any(s.name == "cknna" for s in specs) and min(ks) < 2:
        # as nnoverlap.cknna: the estimator has no mutual pairs to align at k = 1
        raise ValueError(f"cknna needs k >= 2 (platonic-rep's condition), got k = {min(ks)}")
    kmax = max(ks)
    need_data = any(s.needs_data for s in specs)
    metrics = {s.metric or metric for s in specs if s.kind != "global"} | {metric}
    lists: dict[str, tuple[Neighbors, Neighbors]] = {}
    # Cross ranks (trustworthiness, continuity, MRRE) under the measures' metric: one set's
    # lists come with them from a fused sweep, and every measure shares them.
    names = {s.name for s in specs}
    a_ranks = bool(names & {"trustworthiness", "mrre_false", "mrre_missing"})
    b_ranks = bool(names & {"continuity", "mrre_false", "mrre_missing"})
    cache: RankCache = {}
    for m in sorted(metrics):
        if m == metric and (a_ranks or b_ranks):
            na, nb, cache = ranked_lists(a, b, kmax, m, threads, a_ranks=a_ranks, b_ranks=b_ranks)
            lists[m] = (na, nb)
            continue
        lists[m] = (
            resolve(a, kmax, m, threads, "A", need_data=need_data),
            resolve(b, kmax, m, threads, "B", need_data=need_data),
        )
    pairs = {m: Pair.build(na, nb, kmax) for m, (na, nb) in lists.items()}
    selves: Selves | None = None
    if any(s.name == "cknna" for s in specs):
        selves = cknna_selves(*lists["cosine"], ks)

    # Observed values (per-item arrays where the measure has them).
    observed: dict[str, list[Any]] = {}
    for s in specs:
        m = s.metric or metric
        if s.kind in ("list", "value"):
            observed[s.name] = list_values(pairs[m], s.name, ks, selves)
        elif s.kind == "data":
            observed[s.name] = data_items(s.name, *lists[m], ks, threads, cache)
        else:
            observed[s.name] = [global_value(s.name, *lists[metric], threads)]

    # The permutation null of the list measures: one π sequence for all of them.
    nulls: dict[str, np.ndarray] = {}
    cheap = [s for s in specs if s.kind in ("list", "value")]
    if P is not None and cheap:
        for s in cheap:
            nulls[s.name] = np.empty((P, len(ks)))
        for t, perm in enumerate(permutations(n, P, seed)):
            for m in {s.metric or metric for s in cheap}:
                na, nb = lists[m]
                q = Pair.build(na, permute(nb, perm), kmax)
                for s in cheap:
                    if (s.metric or metric) == m:
                        vals = list_values(q, s.name, ks, selves)
                        nulls[s.name][t] = [mean_of(v, s.name, kk) for v, kk in zip(vals, ks)]

    rng = np.random.default_rng(seed)
    out: list[MeasureResult] = []
    for s in specs:
        for c, kk in enumerate([None] if s.kind == "global" else ks):
            v = observed[s.name][c]
            items = v if isinstance(v, np.ndarray) else None
            value = mean_of(v, s.name, kk)
            extra: dict[str, Any] = {}
            if s.name in nulls:
                extra.update(null_summary(value, nulls[s.name][:, c], alpha, s.s_max(n, kk)))
            if reps is not None and items is not None:
                extra["ci_low"], extra["ci_high"] = bootstrap_interval(items, reps, rng, alpha)
            out.append(
                MeasureResult(s.name, kk, value, n, s.chance(n, kk), per_item=items, **extra)
            )
    return MeasureResults(out)


@dataclass
class CompareMany:
    """The matrices of :func:`compare_many`, one per measure (row = the first set's index).

    ``values[name]``: (m_a, m_b) scores; with a null also ``p``, ``tau``, ``null_mean`` and
    ``calibrated`` (dicts of the same shape). ``best(name)``: the maximum over the matrix and
    where it is (platonic-rep reports the best layer pair).
    """

    k: int
    n: int
    values: dict[str, np.ndarray]
    p: dict[str, np.ndarray] = field(default_factory=dict)
    tau: dict[str, np.ndarray] = field(default_factory=dict)
    null_mean: dict[str, np.ndarray] = field(default_factory=dict)
    calibrated: dict[str, np.ndarray] = field(default_factory=dict)
    permutations: int | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    def best(self, name: str) -> tuple[float, tuple[int, int]]:
        """The largest entry of ``values[name]`` and its (row, column)."""
        v = self.values[name]
        at = np.unravel_index(int(np.argmax(v)), v.shape)
        return float(v[at]), (int(at[0]), int(at[1]))

    def max(self, name: str) -> float:
        """The largest entry of ``values[name]``."""
        return self.best(name)[0]


# The list measures compare_many computes in one batched core call (functions of the
# overlaps o_i, and CKNNA's masked HSIC).
_BATCHED = frozenset({"mnno", "jaccard", "lcmc", "cknna"})


def compare_many(
    sets: Sequence[SetLike],
    sets_b: Sequence[SetLike] | None = None,
    k: int = 10,
    *,
    measures: Sequence[str] | str = ("mnno",),
    metric: str = "cosine",
    threads: int | None = None,
    null: int | None = None,
    seed: int | None = 0,
    alpha: float = 0.05,
) -> CompareMany:
    """m sets of the same n items (models, layers): each set's neighbours found **once**, then
    an m x m matrix per measure (asymmetric measures: row = A). With ``sets_b``: the
    m_a x m_b matrix of two families (layer x layer of two models) and its maximum
    (:meth:`CompareMany.max`). ``null=P``: permutation p-values and calibrated scores, with
    the **same** permutations for every pair (list measures only).

    >>> import numpy as np, nnoverlap as nno
    >>> rng = np.random.default_rng(0)
    >>> A = rng.normal(size=(200, 8))
    >>> sets = [A, A + 0.5 * rng.normal(size=A.shape), rng.normal(size=A.shape)]
    >>> res = nno.compare_many(sets, k=10, measures=["mnno", "jaccard"])
    >>> res["mnno"].shape, float(res["mnno"][0, 0])
    ((3, 3), 1.0)
    >>> bool(res["mnno"][0, 1] > res["mnno"][0, 2])
    True
    """
    specs = _specs(measures)
    for s in specs:
        if s.kind == "global" and null is not None:
            raise ValueError(f"{s.name} has no permutation null")
    metric = _api._check_metric(metric)
    threads = _api._check_threads(threads)
    alpha = check_alpha(alpha)
    P = None if null is None else check_null(null)
    if null is not None:
        for s in specs:
            if s.kind not in ("list", "value"):
                raise ValueError(
                    f"{s.name} needs ranks beyond k or scores of other pairs: it has no cheap "
                    "permutation null (only the measures of the top-k lists do)"
                )
    rows = list(sets)
    cols = rows if sets_b is None else list(sets_b)
    if not rows or not cols:
        raise ValueError("compare_many needs at least one set on each side")
    ns = {n_of(s, f"set {i}") for i, s in enumerate([*rows, *cols])}
    if len(ns) != 1:
        raise ValueError(f"all sets must describe the same items; got row counts {sorted(ns)}")
    n = ns.pop()
    high, what = _api._self_join_range(n)
    kk = _api._check_k(k, high, what)
    if any(s.name == "cknna" for s in specs) and kk < 2:
        raise ValueError(f"cknna needs k >= 2 (platonic-rep's condition), got k = {kk}")
    need_data = any(s.needs_data for s in specs)
    used = sorted({s.metric or metric for s in specs if s.kind != "global"} | {metric})

    def lists_of(group: list[SetLike], tag: str) -> dict[str, list[Neighbors]]:
        return {
            m: [
                resolve(s, kk, m, threads, f"{tag} {i}", need_data=need_data)
                for i, s in enumerate(group)
            ]
            for m in used
        }

    la = lists_of(rows, "set")
    lb = la if sets_b is None else lists_of(cols, "sets_b")
    shape = (len(rows), len(cols))
    values = {s.name: np.empty(shape) for s in specs}
    cheap = [s for s in specs if s.kind in ("list", "value")]
    # The measures of the overlaps o_i alone, and CKNNA: the whole matrix in one core call
    # (parallel over the pairs), for the observed values and for each permutation.
    batched = all(s.name in _BATCHED for s in cheap)
    # cknna's per-set terms, once per set (they do not change under relabelling either); the
    # batch computes them with the observed values, as the pairs (set, itself)
    self_a: list[float] = []
    self_b: list[float] = []
    if any(s.name == "cknna" for s in specs) and not batched:
        self_a = [cknna_self(na, kk) for na in la["cosine"]]
        self_b = self_a if sets_b is None else [cknna_self(nb, kk) for nb in lb["cosine"]]

    def cheap_values(m: str, i: int, j: int, nb: Neighbors, which: list[Spec]) -> dict[str, float]:
        which = [s for s in which if (s.metric or metric) == m]
        if not which:  # mirrored symmetric measures only: no look-ups to do
            return {}
        p = Pair.build(la[m][i], nb, kk)
        sv = {kk: (self_a[i], self_b[j])} if self_a else None
        return {s.name: mean_of(list_values(p, s.name, [kk], sv)[0], s.name, kk) for s in which}

    def batch_values(m: str, group_b: list[Neighbors]) -> dict[str, np.ndarray]:
        which = [s for s in cheap if (s.metric or metric) == m]
        if not which:
            return {}
        want_hsic = any(s.name == "cknna" for s in which)
        # One family's observed lists: each unordered pair once, both directions from it
        # (the overlaps of (j, i) are those of (i, j); the core sums cknna's (j, i) in the
        # same pass); the diagonal pairs (i, i) give the sets' own cknna terms.
        family = sets_b is None and group_b is la[m]
        group = la[m] if family else [*la[m], *group_b]
        lists = [np.ascontiguousarray(g.indices[:, :kk], dtype=np.int64) for g in group]
        scores = (
            [np.ascontiguousarray(g.scores[:, :kk], dtype=np.float64) for g in group]
            if want_hsic
            else []
        )
        ma = len(la[m])
        if family:
            iu, ju = np.triu_indices(ma)
            pairs = np.stack([iu, ju], axis=1).astype(np.int64)
            hist_u, hsic_u, hsic_r = _core.pair_stats(lists, scores, kk, pairs, reverse=True)
            square_hist = np.empty((ma, ma, kk + 1), dtype=np.int64)
            square_hist[iu, ju], square_hist[ju, iu] = hist_u, hist_u
            square = np.empty((ma, ma))
            square[iu, ju], square[ju, iu] = hsic_u, hsic_r
            if want_hsic and not self_a:
                own = hsic_u[iu == ju].tolist()
                self_a.extend(own)
                self_b.extend(own)
            hist, hsic = square_hist.reshape(-1, kk + 1), square.ravel()
        else:
            cross = [(i, ma + j) for i in range(shape[0]) for j in range(shape[1])]
            selves = []
            if want_hsic and not self_a:  # the observed lists: each set with itself too
                selves = [(i, i) for i in range(ma)]
                if sets_b is not None:
                    selves += [(ma + j, ma + j) for j in range(shape[1])]
            hist, hsic, _ = _core.pair_stats(
                lists, scores, kk, np.array(cross + selves, dtype=np.int64)
            )
            if selves:
                own = hsic[len(cross) :].tolist()
                self_a.extend(own[:ma])
                self_b.extend(own[:ma] if sets_b is None else own[ma:])
                hist, hsic = hist[: len(cross)], hsic[: len(cross)]
        o = np.arange(kk + 1, dtype=np.float64)
        out: dict[str, np.ndarray] = {}
        for s in which:
            if s.name == "mnno":
                v = (hist @ o) / (kk * n)
            elif s.name == "jaccard":
                v = (hist @ (o / (2 * kk - o))) / n
            elif s.name == "lcmc":
                v = (hist @ o) / (kk * n) - kk / (n - 1)
            else:  # cknna, with each set's own term from the unpermuted lists
                v = hsic / (np.sqrt(np.outer(self_a, self_b).ravel()) + 1e-6)
            out[s.name] = v.reshape(shape)
        return out

    for m in used if batched else []:
        values.update(batch_values(m, lb[m]))
    for m in [] if batched else used:
        for i in range(shape[0]):
            for j in range(shape[1]):
                # One family: a symmetric measure's (i, j) is its (j, i).
                mirror = sets_b is None and j < i
                which = [s for s in cheap if not (mirror and s.symmetric)]
                for name, v in cheap_values(m, i, j, lb[m][j], which).items():
                    values[name][i, j] = v
                if mirror:
                    for s in cheap:
                        if s.symmetric and (s.metric or metric) == m:
                            values[s.name][i, j] = values[s.name][j, i]
    for s in specs:
        if s.kind in ("list", "value"):
            continue
        m = s.metric or metric
        for i, na in enumerate(la[m]):
            for j, nb in enumerate(lb[m]):
                if s.kind == "data":
                    values[s.name][i, j] = mean_of(
                        data_items(s.name, na, nb, [kk], threads)[0], s.name, kk
                    )
                else:
                    values[s.name][i, j] = global_value(s.name, na, nb, threads)
    res = CompareMany(kk, n, values, permutations=P)
    if P is None:
        return res
    nulls = {s.name: np.empty((P, *shape)) for s in specs}
    for t, perm in enumerate(permutations(n, P, seed)):
        for m in used:
            permuted = [permute(nb, perm) for nb in lb[m]]
            if batched:
                for name, mat in batch_values(m, permuted).items():
                    nulls[name][t] = mat
                continue
            for i in range(shape[0]):
                for j, nbp in enumerate(permuted):
                    for name, v in cheap_values(m, i, j, nbp, cheap).items():
                        nulls[name][t, i, j] = v
    for s in specs:
        for name in ("p", "tau", "null_mean", "calibrated"):
            getattr(res, name)[s.name] = np.empty(shape)
        for i in range(shape[0]):
            for j in range(shape[1]):
                st = null_summary(
                    float(values[s.name][i, j]), nulls[s.name][:, i, j], alpha, s.s_max(n, kk)
                )
                for name in ("p", "tau", "null_mean", "calibrated"):
                    getattr(res, name)[s.name][i, j] = st[name]
    return res
