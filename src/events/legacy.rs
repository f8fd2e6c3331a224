//! Frozen shapes of events as they were once written. Never edit these: add a new one.

use serde::{Deserialize, Serialize};

/// `JobCompleted` v1: the seed prototype's completion record, before carbonq booked energy,
/// baseline emissions and the attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobCompletedV1 {
    /// Run time, milliseconds.
    pub duration_ms: u64,
    /// Emissions booked, kg CO2.
    pub emissions_kg: f64,
    /// Result text.
    pub result: String,
}
