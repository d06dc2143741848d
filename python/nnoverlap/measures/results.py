"""What a paper table needs from a measure: the value, chance, the permutation null's mean, τ,
p and the calibrated score, and a bootstrap interval; as objects, or a pandas frame."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, overload

import numpy as np

__all__ = ["MeasureResult", "MeasureResults"]


@dataclass(frozen=True)
class MeasureResult:
    """One measure at one k (``k`` None for global measures such as ``linear_cka``).

    ``value``: the score. ``chance``: its expectation for unrelated sets where known exactly
    (mNNO: k / (n - 1); LCMC and R_NX: 0), else None. With a permutation null of
    ``permutations`` relabellings: ``null_mean``, ``tau`` (the ⌈(1 - α)(P + 1)⌉-th order
    statistic of the observed value and the null values), ``p`` = (1 + #{null >= value}) /
    (P + 1) and ``calibrated`` = clamp((value - τ) / (max - τ), 0, 1). With a bootstrap:
    ``ci_low``, ``ci_high``, the percentile interval at level 1 - α. ``per_item``: per-item
    values where the measure has them.
    """

    measure: str
    k: int | None
    value: float
    n: int
    chance: float | None = None
    null_mean: float | None = None
    tau: float | None = None
    p: float | None = None
    calibrated: float | None = None
    permutations: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    per_item: np.ndarray | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The fields except ``per_item``, for tables and JSON."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "per_item"}


class MeasureResults(Sequence[MeasureResult]):
    """The results of :func:`nnoverlap.measure`: a sequence of :class:`MeasureResult`, also
    indexed by ``(measure, k)``.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.random.default_rng(0).normal(size=(100, 5))
    >>> res = nno.measure(A, 2 * A, k=[5, 10], measures=["mnno", "jaccard"])
    >>> res["mnno", 10].value, len(res)
    (1.0, 4)
    """

    def __init__(self, items: Sequence[MeasureResult]) -> None:
        self._items = list(items)

    @overload
    def __getitem__(self, key: int) -> MeasureResult: ...
    @overload
    def __getitem__(self, key: slice) -> Sequence[MeasureResult]: ...
    @overload
    def __getitem__(self, key: tuple[str, int | None]) -> MeasureResult: ...
    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):
            name, k = key
            for r in self._items:
                if r.measure == name and r.k == k:
                    return r
            raise KeyError(f"no result for measure {name!r} at k = {k}")
        return self._items[key]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[MeasureResult]:
        return iter(self._items)

    def __repr__(self) -> str:
        lines = [f"MeasureResults({len(self._items)} results)"]
        for r in self._items:
            extra = ""
            if r.p is not None:
                extra += f"  p={r.p:.4g} calibrated={r.calibrated:.4g}"
            if r.ci_low is not None:
                extra += f"  ci=[{r.ci_low:.4g}, {r.ci_high:.4g}]"
            lines.append(f"  {r.measure:<20} k={r.k!s:<5} {r.value:.6g}{extra}")
        return "\n".join(lines)

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame``, one row per result (needs ``pip install nnoverlap[pandas]``)."""
        try:
            import pandas as pd  # type: ignore[import-untyped]
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install nnoverlap[pandas]") from None
        return pd.DataFrame([r.as_dict() for r in self._items])


def null_summary(
    observed: float, null: np.ndarray, alpha: float, s_max: float
) -> dict[str, float | int]:
    """measures.md's null statistics of one observed value against P null values."""
    P = int(null.size)
    both = np.sort(np.concatenate([[observed], null]))
    rank = int(np.ceil((1 - alpha) * (P + 1)))
    tau = float(both[min(max(rank, 1), P + 1) - 1])
    p = (1 + int(np.count_nonzero(null >= observed))) / (P + 1)
    den = s_max - tau
    cal = float(np.clip((observed - tau) / den, 0.0, 1.0)) if den > 0 else 0.0
    return {
        "null_mean": float(null.mean()),
        "tau": tau,
        "p": p,
        "calibrated": cal,
        "permutations": P,
    }


def bootstrap_interval(
    items: np.ndarray, reps: int, rng: np.random.Generator, alpha: float
) -> tuple[float, float]:
    """Percentile interval of the mean of ``items`` over ``reps`` resamples of the items."""
    n = items.shape[0]
    means = np.empty(reps)
    step = max(1, (1 << 22) // max(n, 1))
    for s in range(0, reps, step):
        m = min(step, reps - s)
        draw = rng.integers(0, n, size=(m, n))
        means[s : s + m] = items[draw].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)
