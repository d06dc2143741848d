"""Reproduce Collell & Moens (ACL 2018): do cross-modal mappings bridge modalities?

The paper learns maps ``f: X -> Y`` between two embeddings of the same items and asks whose
neighbourhoods the mapped vectors ``f(X)`` have: the input's (mNNO(f(X), X) high) or the
target's (mNNO(f(X), Y) high). This subpackage runs its experiments on any paired data with the
paper's protocols, well-fitted maps, controls and uncertainty:

- :mod:`~nnoverlap.paper.data`: the bundled and shared pairs, the user's files;
- :mod:`~nnoverlap.paper.maps`: ridge with leave-one-out λ, nets with early stopping;
- :mod:`~nnoverlap.paper.protocols`: per-fold, split and pooled evaluation;
- :mod:`~nnoverlap.paper.experiments`: experiment 1 (maps, controls) and 2 (untrained nets);
- :mod:`~nnoverlap.paper.report` and :mod:`~nnoverlap.paper.plots`: tables and figures;
- :mod:`~nnoverlap.paper.cli`: ``nnoverlap reproduce``.

Bootstrap intervals, permutation nulls and the measures beside mNNO (Jaccard,
trustworthiness, CKNNA, linear CKA) come from :mod:`nnoverlap.measures`, computed from the same
cached neighbour lists. Only the core package and numpy are needed;
matplotlib (figures) and threadpoolctl (speed) are optional: ``pip install nnoverlap[reproduce]``.

>>> from nnoverlap.paper import ReproduceConfig
>>> ReproduceConfig().protocols
('per-fold',)
"""

from .data import (
    PairedSet,
    default_pairs,
    find_shared_data,
    imagenet1k_pairs,
    load_pair_files,
    load_train_test_files,
    words10k_pair,
)
from .experiments import DepthPoint, MapRow, ReproduceConfig, reproduce, run_depths, run_mappings
from .maps import NetSettings, Setting
from .protocols import PROTOCOLS
from .report import Report, findings

__all__ = [
    "PROTOCOLS",
    "DepthPoint",
    "MapRow",
    "NetSettings",
    "PairedSet",
    "Report",
    "ReproduceConfig",
    "Setting",
    "default_pairs",
    "find_shared_data",
    "findings",
    "imagenet1k_pairs",
    "load_pair_files",
    "load_train_test_files",
    "reproduce",
    "run_depths",
    "run_mappings",
    "words10k_pair",
]
