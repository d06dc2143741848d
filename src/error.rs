//! The one error type of the core. The bindings map each variant to one Python exception.

use std::fmt;

/// Everything the core can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An argument the caller should have validated (shape, k, sizes). The message says what
    /// was expected and what was given.
    InvalidArgument(String),
    /// A row of the input that the metric cannot use (NaN, infinity, a zero row under cosine,
    /// a value whose products overflow). `row` counts from 0 in the set it belongs to.
    InvalidRow { row: usize, problem: RowProblem },
    /// The computation was cancelled through [`crate::Control::cancel`] before it finished.
    Interrupted,
    /// An allocation of `bytes` bytes for `what` failed.
    OutOfMemory { bytes: usize, what: &'static str },
    /// A broken invariant of the core (a bug): the message says which.
    Internal(String),
}

/// What is wrong with an input row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowProblem {
    NonFinite,
    Zero,
    /// A value so large that sums of products overflow the float type; `limit` is the largest
    /// magnitude accepted, as its bit pattern in f64 (so that the enum stays `Eq`).
    TooLarge {
        limit_bits: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(msg) => f.write_str(msg),
            Error::InvalidRow { row, problem } => match problem {
                RowProblem::NonFinite => write!(f, "row {row} has a NaN or infinite value"),
                RowProblem::Zero => write!(
                    f,
                    "row {row} is all zeros: cosine similarity is undefined for it"
                ),
                RowProblem::TooLarge { limit_bits } => write!(
                    f,
                    "row {row} holds a value of magnitude above {:.3e}: its products overflow",
                    f64::from_bits(*limit_bits)
                ),
            },
            Error::Interrupted => f.write_str("computation interrupted"),
            Error::OutOfMemory { bytes, what } => write!(
                f,
                "cannot allocate {bytes} bytes ({:.1} GiB) for {what}",
                *bytes as f64 / (1u64 << 30) as f64
            ),
            Error::Internal(msg) => write!(f, "internal error (a bug, please report it): {msg}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for an [`Error::InvalidArgument`] with a formatted message.
macro_rules! invalid {
    ($($arg:tt)*) => {
        $crate::error::Error::InvalidArgument(format!($($arg)*))
    };
}
pub(crate) use invalid;

/// A vector of `len` copies of `value`, or [`Error::OutOfMemory`] naming `what` when the
/// allocation fails (instead of aborting the process).
pub fn try_vec<T: Clone>(len: usize, value: T, what: &'static str) -> Result<Vec<T>> {
    let bytes = len.saturating_mul(std::mem::size_of::<T>());
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| Error::OutOfMemory { bytes, what })?;
    v.resize(len, value);
    Ok(v)
}

/// `a * b`, or [`Error::OutOfMemory`] naming `what` when the product overflows `usize`.
pub fn checked_len(a: usize, b: usize, elem: usize, what: &'static str) -> Result<usize> {
    a.checked_mul(b)
        .filter(|n| n.checked_mul(elem).is_some())
        .ok_or(Error::OutOfMemory {
            bytes: usize::MAX,
            what,
        })
}
