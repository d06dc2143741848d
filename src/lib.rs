//! nnoverlap core: exact k-nearest neighbours of every row of an embedding set and the
//! neighbour overlap (NNO / mNNO) between two sets, in pure Rust.
//!
//! The meaning of every number follows `semantics.md` of the project: scores, the tie rule
//! (equal scores: lower index first), self exclusion, and the overlap definitions. The Python
//! bindings live in `bindings` behind the `python` feature; nothing else here knows about Python.

pub mod control;
pub mod error;
pub mod kernel;
pub mod knn;
pub mod lists;
pub mod matrix;
pub mod metric;
pub mod overlap;
pub mod pool;
pub mod prep;
pub mod readers;
pub mod topk;

#[cfg(feature = "python")]
mod bindings;
#[cfg(feature = "python")]
mod bindings_io;
#[cfg(feature = "python")]
mod bindings_measures;

pub use control::Control;
pub use error::{Error, Result, RowProblem};
pub use knn::ranks::{knn_self_ranked, rank_counts, RankOptions};
pub use knn::{
    block_pair_topk, block_topk, finish_partial, knn_query, knn_query_sides, knn_self,
    merge_partial, pair_scores, KnnOptions, Neighbors, PartialTopK,
};
pub use lists::{find_in_rows, masked_hsic, pair_stats, PairStats};
pub use matrix::{Matrix, Real};
pub use metric::Metric;
pub use overlap::{mnno_multi, overlap_counts};
pub use prep::Params;
