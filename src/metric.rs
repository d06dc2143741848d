//! The three scores of the contract and how the core ranks them.

use std::fmt;
use std::str::FromStr;

use crate::error::{invalid, Error};

/// How two rows are compared.
///
/// Internally every metric is turned into a *key* where larger is better, so one top-k
/// structure serves all three: cosine and inner product use the score itself, Euclidean uses
/// the negated squared distance (exact for small-integer data, where a square root could merge
/// distinct values) and takes the square root only when results are returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// `<x, y> / (|x| |y|)`, larger is better.
    Cosine,
    /// `<x, y>`, larger is better.
    InnerProduct,
    /// `|x - y|_2`, smaller is better.
    Euclidean,
}

impl Metric {
    pub const NAMES: [&'static str; 3] = ["cosine", "ip", "l2"];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::InnerProduct => "ip",
            Metric::Euclidean => "l2",
        }
    }

    /// True when a larger score is a better neighbour.
    pub fn larger_is_better(self) -> bool {
        !matches!(self, Metric::Euclidean)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "cosine" => Ok(Metric::Cosine),
            "ip" => Ok(Metric::InnerProduct),
            "l2" => Ok(Metric::Euclidean),
            other => Err(invalid!(
                "unknown metric {other:?}; expected one of \"cosine\", \"ip\", \"l2\""
            )),
        }
    }
}
