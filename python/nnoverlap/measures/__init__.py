"""Every neighbourhood measure of ``measures.md``: from the top-k lists, from ranks beyond k,
from scored pairs, and global; with permutation nulls, bootstrap intervals and many sets at
once. Each topic has its own module; everything public is re-exported by ``nnoverlap``.
"""

from .cka import linear_cka
from .lists import (
    cknna,
    cycle_knn,
    jaccard,
    joint_rank_jaccard,
    lcmc,
    mutual_knn,
    qnx,
    rank_similarity,
    rnx,
)
from .neighbors import Neighbors, neighbors
from .ranks import continuity, mrre, rnx_auc, trustworthiness
from .second_order import second_order_cosine

__all__ = [
    "Neighbors",
    "cknna",
    "continuity",
    "cycle_knn",
    "jaccard",
    "joint_rank_jaccard",
    "lcmc",
    "linear_cka",
    "mrre",
    "mutual_knn",
    "neighbors",
    "qnx",
    "rank_similarity",
    "rnx",
    "rnx_auc",
    "second_order_cosine",
    "trustworthiness",
]
