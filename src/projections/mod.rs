//! Read models folded from the event log, and the runner that keeps them in Redis.
//!
//! Invariant: the fold is pure; folding the same log from the start gives the same read models,
//! whether page by page while following or all at once in `replay --rebuild`.

pub mod counters;
pub mod job_view;
pub mod queries;
pub mod queue_contents;
pub mod read_model;
pub mod redis_writer;
pub mod runner;

pub use counters::{Contribution, Counters};
pub use job_view::{FieldGroups, JobFields, JobView, Mode, Status};
pub use queue_contents::{DeferredSet, FifoQueue, QueueContents};
pub use read_model::{error_chain, Anomaly, Effect, ReadModel};
