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
from .many import CompareMany, compare_many, measure
from .neighbors import Neighbors, neighbors
from .nulls import permutation_test
from .ranks import continuity, mrre, rnx_auc, trustworthiness
from .results import MeasureResult, MeasureResults
from .second_order import second_order_cosine
from .strata import paired_bootstrap, stratified_permutation_test

__all__ = [
    "CompareMany",
    "MeasureResult",
    "MeasureResults",
    "Neighbors",
    "cknna",
    "compare_many",
    "continuity",
    "cycle_knn",
    "jaccard",
    "joint_rank_jaccard",
    "lcmc",
    "linear_cka",
    "measure",
    "mrre",
    "mutual_knn",
    "neighbors",
    "paired_bootstrap",
    "permutation_test",
    "qnx",
    "rank_similarity",
    "rnx",
    "rnx_auc",
    "second_order_cosine",
    "stratified_permutation_test",
    "trustworthiness",
]
