"""nnoverlap: exact k-nearest neighbours and nearest-neighbour overlap between embeddings.

Do two embeddings of the same items see the same neighbourhoods? mNNO^k(A, B) is the mean,
over items, of the fraction of an item's k nearest neighbours in A that are also among its k
nearest neighbours in B (Collell & Moens, ACL 2018).

>>> import numpy as np, nnoverlap as nno
>>> rng = np.random.default_rng(0)
>>> A = rng.normal(size=(200, 16)).astype(np.float32)
>>> nno.mnno(A, 2 * A, k=10)
1.0
"""

from ._api import METRICS, KnnResult, chance, knn, mnno, nno, overlap
from ._core import __version__
from .io import Alignment, Embeddings, FormatError, align, load
from .measures import (
    CompareMany,
    MeasureResult,
    MeasureResults,
    Neighbors,
    cknna,
    compare_many,
    continuity,
    cycle_knn,
    jaccard,
    joint_rank_jaccard,
    lcmc,
    linear_cka,
    measure,
    mrre,
    mutual_knn,
    neighbors,
    paired_bootstrap,
    permutation_test,
    qnx,
    rank_similarity,
    rnx,
    rnx_auc,
    second_order_cosine,
    stratified_permutation_test,
    trustworthiness,
)

__all__ = [
    "METRICS",
    "Alignment",
    "Embeddings",
    "FormatError",
    "CompareMany",
    "KnnResult",
    "MeasureResult",
    "MeasureResults",
    "Neighbors",
    "__version__",
    "align",
    "chance",
    "cknna",
    "compare_many",
    "continuity",
    "cycle_knn",
    "jaccard",
    "joint_rank_jaccard",
    "knn",
    "lcmc",
    "linear_cka",
    "load",
    "measure",
    "mnno",
    "mrre",
    "mutual_knn",
    "neighbors",
    "nno",
    "overlap",
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
