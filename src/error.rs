//! The one error type of the core. The bindings map each variant to one Python exception.

use std::fmt;

/// Everything the core can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An argument the caller should have validated (shape, k, sizes). The message says what
    /// was expected and what was given.
    InvalidArgument(String),
    /// The computation was cancelled through [`crate::Control::cancel`] before it finished.
    Interrupted,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(msg) => f.write_str(msg),
            Error::Interrupted => f.write_str("computation interrupted"),
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
