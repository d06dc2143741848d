"""Linear CKA (Kornblith et al. 2019), the global measure to set beside the local ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _api, _core
from .lists import check_pair_n
from .neighbors import Neighbors

__all__ = ["linear_cka"]


def _centred(s: Any, name: str) -> np.ndarray:
    if isinstance(s, Neighbors):
        if s.data is None:
            raise ValueError(f"linear_cka needs the vectors of {name}; its Neighbors carry none")
        s = s.data
    arr = _api._as_matrix(s, name)
    _core._scan(arr, "ip", name, 0)  # NaN/inf: the error names the row
    x = arr.astype(np.float64)
    return x - x.mean(axis=0)


def linear_cka(a: Any, b: Any) -> float:
    """Linear CKA: ‖B̄ᵀĀ‖²_F / (‖ĀᵀĀ‖_F ‖B̄ᵀB̄‖_F) with columns centred, in float64;
    O(n d_A d_B) time, no n x n matrix. 1 for sets equal up to rotation and scale.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.random.default_rng(0).normal(size=(100, 5))
    >>> Q = np.linalg.qr(np.random.default_rng(1).normal(size=(5, 5)))[0]
    >>> round(nno.linear_cka(A, 3 * A @ Q), 12)
    1.0
    """
    check_pair_n(a, b)
    xa, xb = _centred(a, "A"), _centred(b, "B")
    cross = np.linalg.norm(xb.T @ xa) ** 2
    den = np.linalg.norm(xa.T @ xa) * np.linalg.norm(xb.T @ xb)
    if den == 0:
        raise ValueError("linear_cka is undefined when a set is constant (all rows equal)")
    return float(cross / den)
