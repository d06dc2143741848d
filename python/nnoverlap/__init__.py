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
    Neighbors,
    cknna,
    continuity,
    cycle_knn,
    jaccard,
    joint_rank_jaccard,
    lcmc,
    linear_cka,
    mrre,
    mutual_knn,
    neighbors,
    qnx,
    rank_similarity,
    rnx,
    rnx_auc,
    second_order_cosine,
    trustworthiness,
)

__all__ = [
    "METRICS",
    "Alignment",
    "Embeddings",
    "FormatError",
    "KnnResult",
    "Neighbors",
    "__version__",
    "align",
    "chance",
    "cknna",
    "continuity",
    "cycle_knn",
    "jaccard",
    "joint_rank_jaccard",
    "knn",
    "lcmc",
    "linear_cka",
    "load",
    "mnno",
    "mrre",
    "mutual_knn",
    "neighbors",
    "nno",
    "overlap",
    "qnx",
    "rank_similarity",
    "rnx",
    "rnx_auc",
    "second_order_cosine",
    "trustworthiness",
]
