//! The one error type of the planner.

/// A planner could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlannerError {
    /// The slot length is not a whole number of seconds of at least one second.
    #[error("invalid slot length {slot_ns} ns: a slot is a whole number of seconds, at least 1 s")]
    InvalidSlot {
        /// The slot length asked for, in nanoseconds (saturated).
        slot_ns: i64,
    },
}
