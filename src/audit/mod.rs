//! What a user runs to trust the log: `carbonq replay` (audit, point-in-time state, rebuild and
//! diff) and `carbonq inspect` (a job, the queues, the stats).

pub mod inspect;
pub mod replay;

use std::io;

use uuid::Uuid;

use crate::store::StoreError;

/// A failed audit command.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such job.
    #[error(
        "job {0} not found (never submitted, or retired once retention.keep_finished_s ran out)"
    )]
    JobNotFound(Uuid),
    /// Writing the report failed.
    #[error("cannot write the report")]
    Io(#[from] io::Error),
    /// Encoding JSON failed.
    #[error("cannot encode the report as json")]
    Json(#[from] serde_json::Error),
}

/// Whether the audited state is sound (exit code 0) or not (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid log, empty diff.
    Clean,
    /// Anomalies or differences were found.
    Findings,
}
