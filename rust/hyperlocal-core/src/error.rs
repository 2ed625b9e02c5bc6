//! The one error type of the core. Every variant carries the context a user needs to find the bad input:
//! the argument or column, how many rows are bad, and the first few row indices.

use std::fmt;

/// Row indices of bad input: the total count and the first few indices (at most [`RowList::KEEP`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowList {
    pub count: usize,
    pub first: Vec<usize>,
}

impl RowList {
    /// How many indices are kept for the message.
    pub const KEEP: usize = 5;

    pub fn push(&mut self, row: usize) {
        self.count += 1;
        if self.first.len() < Self::KEEP {
            self.first.push(row);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Merge a later chunk's list into this one (chunks are merged in row order, so `first` stays sorted).
    pub fn extend(&mut self, other: RowList) {
        self.count += other.count;
        for r in other.first {
            if self.first.len() < Self::KEEP {
                self.first.push(r);
            }
        }
    }
}

impl fmt::Display for RowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<String> = self.first.iter().map(|r| r.to_string()).collect();
        let more = if self.count > self.first.len() {
            ", …"
        } else {
            ""
        };
        write!(
            f,
            "{} row{} (first at {}{})",
            self.count,
            if self.count == 1 { "" } else { "s" },
            rows.join(", "),
            more
        )
    }
}

/// Errors of the core. Messages say what was expected, what was found and where.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HlError {
    /// Values outside their valid domain (NaN, out of range, not a valid cell, …).
    #[error("{arg}: {rows} invalid; expected {expected}")]
    InvalidValues {
        arg: String,
        rows: RowList,
        expected: String,
    },
    /// A whole argument is out of the supported range (no particular rows to name).
    #[error("{arg}: {message}")]
    Unsupported { arg: String, message: String },
    /// Two inputs that must have the same length do not.
    #[error("length mismatch: {arg} has {got} rows, expected {expected} (the length of {other})")]
    LengthMismatch {
        arg: String,
        got: usize,
        other: String,
        expected: usize,
    },
    /// An H3 resolution outside 0..=15.
    #[error("resolution: got {got}, expected an integer in 0..=15")]
    InvalidResolution { got: i64 },
    /// A coarser-resolution operation was asked for a finer resolution.
    #[error("resolution: cannot go from resolution {from} to {to}; expected {to} <= {from}")]
    ResolutionOrder { from: u8, to: u8 },
    /// The call was interrupted (Ctrl-C) through [`crate::cancel`]; nothing was produced.
    #[error("interrupted")]
    Cancelled,
    /// Something that should not happen with validated input (a bug): reported, never a panic.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, HlError>;

/// Check two lengths agree.
pub fn check_len(arg: &str, got: usize, other: &str, expected: usize) -> Result<()> {
    if got != expected {
        return Err(HlError::LengthMismatch {
            arg: arg.to_owned(),
            got,
            other: other.to_owned(),
            expected,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rowlist_keeps_first_five_and_counts_all() {
        let mut a = RowList::default();
        for r in [3, 7] {
            a.push(r);
        }
        let mut b = RowList::default();
        for r in [10, 11, 12, 13, 14] {
            b.push(r);
        }
        a.extend(b);
        assert_eq!(a.count, 7);
        assert_eq!(a.first, vec![3, 7, 10, 11, 12]);
        assert_eq!(a.to_string(), "7 rows (first at 3, 7, 10, 11, 12, …)");
    }
}
