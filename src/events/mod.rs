//! The stored schema: every job's lifecycle as typed, past-tense events.
//!
//! Invariant: an event once written is readable forever. Adding a variant or a trailing
//! `#[serde(default)]` field is free; any other change bumps the variant's schema version and
//! keeps the old shape frozen in [`legacy`] with an upcaster in [`codec`].

pub mod codec;
pub mod envelope;
pub mod job_event;
pub mod legacy;
pub mod lifecycle;
pub mod sample;
pub mod timestamp;

pub use codec::{decode, encode, CodecError, EncodedEvent};
pub use envelope::{EventMeta, RecordedEvent, StreamId};
pub use job_event::*;
pub use lifecycle::{IllegalTransition, JobLifecycle, Stage};
