//! The one error type of the grid module.
//!
//! Messages are lowercase and name the file (or the in-memory source) and,
//! for row-level problems, the 1-based line number, e.g.
//! `gb.csv:17: invalid intensity 'abc'`.

use chrono::{DateTime, Utc};

/// Everything that can go wrong while loading or querying grid carbon-intensity data.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    /// The file could not be read.
    #[error("cannot read {file}: {source}")]
    Io {
        /// Path of the file.
        file: String,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A row could not be parsed (wrong column count, bad timestamp or value).
    #[error("{file}:{line}: {reason}")]
    BadRow {
        /// File (or source) name.
        file: String,
        /// 1-based line number (for in-memory points: 1-based point index).
        line: u64,
        /// What is wrong with the row.
        reason: String,
    },

    /// A timestamp is not strictly after the previous one.
    #[error("{file}:{line}: timestamp {timestamp} is not after the previous one ({previous})")]
    NonMonotonic {
        /// File (or source) name.
        file: String,
        /// 1-based line number.
        line: u64,
        /// The offending timestamp.
        timestamp: DateTime<Utc>,
        /// The timestamp of the previous row.
        previous: DateTime<Utc>,
    },

    /// A timestamp does not fall on the grid `start + k × resolution`.
    #[error(
        "{file}:{line}: timestamp {timestamp} is not on the {resolution_s} s grid that starts at {start}"
    )]
    Misaligned {
        /// File (or source) name.
        file: String,
        /// 1-based line number.
        line: u64,
        /// The offending timestamp.
        timestamp: DateTime<Utc>,
        /// Inferred resolution in seconds.
        resolution_s: f64,
        /// First timestamp of the series.
        start: DateTime<Utc>,
    },

    /// The file has a header but no data rows.
    #[error("{file}: no data rows")]
    Empty {
        /// File (or source) name.
        file: String,
    },

    /// The resolution cannot be inferred because there is only one timestamp.
    #[error("{file}: at least two timestamps are needed to infer the resolution")]
    TooShort {
        /// File (or source) name.
        file: String,
    },

    /// A region name that is not shipped with carbonq.
    #[error("unknown region '{name}'; valid regions: {valid}")]
    UnknownRegion {
        /// The name that was asked for.
        name: String,
        /// Comma-separated list of the valid names and aliases.
        valid: String,
    },

    /// The data embedded in the binary for a region failed to parse (a build defect).
    #[error("embedded data for region '{region}' is invalid: {message}")]
    Embedded {
        /// Canonical region name.
        region: &'static str,
        /// The parse error, rendered.
        message: String,
    },

    /// An argument is out of range (e.g. a non-positive resolution, a negative error level).
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
}
