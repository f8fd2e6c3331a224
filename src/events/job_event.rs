//! Job events and the small value types they carry.
//!
//! Each variant wraps a struct with named fields so that the MessagePack encoding carries field
//! names and each shape can be versioned on its own.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How urgently a job must run; the seed's `flexible` and `critical` plus `normal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// Must run now; never deferred.
    Critical,
    /// Runs soon, on whichever pool the policy picks.
    Normal,
    /// May wait for a greener hour.
    Flexible,
}

impl Urgency {
    /// Every urgency, in the order the API documents them.
    pub const ALL: [Urgency; 3] = [Urgency::Critical, Urgency::Normal, Urgency::Flexible];

    /// The wire name (`critical`, `normal`, `flexible`).
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Critical => "critical",
            Urgency::Normal => "normal",
            Urgency::Flexible => "flexible",
        }
    }

    /// Parses a wire name, or `None` for anything else.
    pub fn parse(s: &str) -> Option<Urgency> {
        Urgency::ALL.into_iter().find(|u| u.as_str() == s)
    }
}

/// The pool a scheduled job runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum Pool {
    /// The fast pool: run as soon as a worker is free.
    Fast,
    /// The efficient pool: slower, less power.
    Eco,
}

impl Pool {
    /// Both pools.
    pub const ALL: [Pool; 2] = [Pool::Fast, Pool::Eco];

    /// The seed's mode name (`FAST`, `ECO`).
    pub fn as_str(self) -> &'static str {
        match self {
            Pool::Fast => "FAST",
            Pool::Eco => "ECO",
        }
    }
}

/// Why a deferred job was let go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// The intensity fell below the policy's `low` threshold.
    GreenWindow,
    /// The planner's chosen start time arrived.
    PlannedSlot,
    /// Its latest start (deadline − expected duration) arrived (`GUARDRAIL_DEADLINE`).
    DeadlineGuardrail,
    /// The policy's maximum deferral elapsed (`GUARDRAIL_MAX_DEFERRAL`).
    MaxDeferral,
}

impl ReleaseReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseReason::GreenWindow => "green_window",
            ReleaseReason::PlannedSlot => "planned_slot",
            ReleaseReason::DeadlineGuardrail => "deadline_guardrail",
            ReleaseReason::MaxDeferral => "max_deferral",
        }
    }
}

/// The forecast window a decision looked at, in the Carbon Aware SDK's vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastWindow {
    /// First start time considered.
    #[serde(with = "super::timestamp")]
    pub from: DateTime<Utc>,
    /// Last start time considered.
    #[serde(with = "super::timestamp")]
    pub to: DateTime<Utc>,
    /// The chosen start.
    #[serde(with = "super::timestamp")]
    pub best_start: DateTime<Utc>,
    /// Forecast mean intensity over the run at the chosen start, gCO2/kWh.
    pub expected_intensity: f64,
    /// Forecast mean intensity had it started now, gCO2/kWh.
    pub intensity_if_now: f64,
}

/// Why a job was routed as it was: the seed's decision fields plus the forecast window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Grid intensity sampled for the decision, gCO2/kWh.
    pub carbon_intensity: f64,
    /// The policy rule (or guardrail) that decided, e.g. `LOW_CARBON_FAST`.
    pub policy_rule_id: String,
    /// A sentence a person can read.
    pub reason: String,
    /// The forecast window the planner considered, if any.
    pub forecast_window: Option<ForecastWindow>,
}

/// A job was accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSubmitted {
    /// Free-form job type (`training`, `inference`, ...).
    pub job_type: String,
    /// How urgent it is.
    pub urgency: Urgency,
    /// When it must be finished, if the client said.
    #[serde(default, with = "super::timestamp::option")]
    pub deadline: Option<DateTime<Utc>>,
    /// Expected run time in seconds, if known.
    pub duration_s: Option<u64>,
    /// Power draw while running, watts.
    pub power_w: Option<f64>,
    /// The client's deduplication key.
    pub idempotency_key: Option<String>,
    /// The submitting tenant.
    pub tenant: Option<String>,
}

/// The scheduler routed the job to a pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobScheduled {
    /// The pool it will run on.
    pub pool: Pool,
    /// Why.
    pub decision: Decision,
}

/// The scheduler held the job for a greener hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDeferred {
    /// Why.
    pub decision: Decision,
    /// Released no later than this (the sorted-set score of `queue:DEFERRED`).
    #[serde(with = "super::timestamp")]
    pub defer_deadline: DateTime<Utc>,
    /// The start the planner chose, if it planned one.
    #[serde(default, with = "super::timestamp::option")]
    pub planned_release: Option<DateTime<Utc>>,
}

/// A deferred job was let go and goes back to be routed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobReleased {
    /// Why now.
    pub reason: ReleaseReason,
    /// Intensity at release, gCO2/kWh.
    pub carbon_intensity: f64,
}

/// A worker took the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStarted {
    /// Worker name, e.g. `fast-0`.
    pub worker: String,
    /// 1 for the first try.
    pub attempt: u32,
}

/// The job finished successfully.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobCompleted {
    /// The attempt that succeeded.
    pub attempt: u32,
    /// Run time of that attempt, milliseconds.
    pub duration_ms: u64,
    /// Energy used, kWh.
    pub energy_kwh: f64,
    /// Emissions over the run at the grid's actual intensity, kg CO2.
    pub emissions_kg: f64,
    /// Emissions had the same run started at submission, kg CO2.
    pub baseline_emissions_kg: f64,
    /// The executor's result text.
    pub result: String,
}

/// An attempt failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobFailed {
    /// The attempt that failed.
    pub attempt: u32,
    /// What went wrong.
    pub error: String,
    /// Whether another attempt will follow.
    pub will_retry: bool,
    /// When the next attempt may start.
    #[serde(default, with = "super::timestamp::option")]
    pub retry_at: Option<DateTime<Utc>>,
    /// What only the log and the server's log keep: the full cause (a program's path, a panic's
    /// message) behind an `error` that clients see.
    #[serde(default)]
    pub detail: Option<String>,
}

/// The job was cancelled before it started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobCancelled {
    /// Who or what cancelled it.
    pub reason: String,
}

/// The job ran out of attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDeadLettered {
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub reason: String,
}

/// How a finished job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// It completed.
    Done,
    /// It was cancelled before it started.
    Cancelled,
    /// It ran out of attempts.
    DeadLettered,
}

impl Ending {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Done => "done",
            Ending::Cancelled => "cancelled",
            Ending::DeadLettered => "dead_lettered",
        }
    }
}

/// A finished job's retention ran out: its earlier entries are deleted from the log in the same
/// atomic step that appends this one, which keeps what they added to the cumulative counters, so
/// that a fold of the trimmed log gives the same totals as a fold of the whole one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRetired {
    /// How it ended.
    pub ending: Ending,
    /// When it ended.
    #[serde(with = "super::timestamp")]
    pub finished_at: DateTime<Utc>,
    /// Attempts that failed (each was a `JobFailed`).
    pub failed_attempts: u32,
    /// Run time of the attempt that completed, ms (0 unless done).
    pub duration_ms: u64,
    /// Energy booked by its completion, kWh (0 unless done).
    pub energy_kwh: f64,
    /// Emissions booked by its completion, kg CO2 (0 unless done).
    pub emissions_kg: f64,
    /// Baseline emissions booked by its completion, kg CO2 (0 unless done).
    pub baseline_emissions_kg: f64,
    /// Its idempotency key, which is free again once it is retired.
    pub idempotency_key: Option<String>,
}

/// The summaries (`JobRetired`) of many retired jobs were summed into this one entry, which
/// replaces them in the log in the same atomic step. It belongs to no job (its job id is nil).
/// The sums are in billionths, as the counters keep them, so they add up exactly.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RetiredJobsSummed {
    /// The last summary summed: it and every summary before it in the log are replaced.
    pub through: String,
    /// Jobs summed.
    pub jobs: u64,
    /// Of them, completed.
    pub completed: u64,
    /// Their completed run time, ms.
    pub duration_ms_sum: u64,
    /// Their failed attempts.
    pub failed_attempts: u64,
    /// Their energy, billionths of a kWh.
    pub energy_nkwh: u64,
    /// Their emissions, billionths of a kg.
    pub emissions_nkg: u64,
    /// Their baseline emissions, billionths of a kg.
    pub baseline_emissions_nkg: u64,
}

/// Every state transition of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JobEvent {
    /// See [`JobSubmitted`].
    Submitted(JobSubmitted),
    /// See [`JobScheduled`].
    Scheduled(JobScheduled),
    /// See [`JobDeferred`].
    Deferred(JobDeferred),
    /// See [`JobReleased`].
    Released(JobReleased),
    /// See [`JobStarted`].
    Started(JobStarted),
    /// See [`JobCompleted`].
    Completed(JobCompleted),
    /// See [`JobFailed`].
    Failed(JobFailed),
    /// See [`JobCancelled`].
    Cancelled(JobCancelled),
    /// See [`JobDeadLettered`].
    DeadLettered(JobDeadLettered),
    /// See [`JobRetired`].
    Retired(JobRetired),
    /// See [`RetiredJobsSummed`].
    RetiredSummed(RetiredJobsSummed),
}

impl JobEvent {
    /// The readable type name stored in the stream entry's `type` field.
    pub fn type_name(&self) -> &'static str {
        match self {
            JobEvent::Submitted(_) => "JobSubmitted",
            JobEvent::Scheduled(_) => "JobScheduled",
            JobEvent::Deferred(_) => "JobDeferred",
            JobEvent::Released(_) => "JobReleased",
            JobEvent::Started(_) => "JobStarted",
            JobEvent::Completed(_) => "JobCompleted",
            JobEvent::Failed(_) => "JobFailed",
            JobEvent::Cancelled(_) => "JobCancelled",
            JobEvent::DeadLettered(_) => "JobDeadLettered",
            JobEvent::Retired(_) => "JobRetired",
            JobEvent::RetiredSummed(_) => "RetiredJobsSummed",
        }
    }
}

impl JobEvent {
    /// One line for people: what happened.
    pub fn describe(&self) -> String {
        match self {
            JobEvent::Submitted(s) => format!(
                "submitted {} ({}){}",
                s.job_type,
                s.urgency.as_str(),
                s.deadline
                    .map(|d| format!(", deadline {}", crate::clock::format_time(d)))
                    .unwrap_or_default()
            ),
            JobEvent::Scheduled(s) => format!(
                "scheduled to {} by {} at {} g/kWh",
                s.pool.as_str(),
                s.decision.policy_rule_id,
                s.decision.carbon_intensity
            ),
            JobEvent::Deferred(d) => format!(
                "deferred by {} until at most {}",
                d.decision.policy_rule_id,
                crate::clock::format_time(d.defer_deadline)
            ),
            JobEvent::Released(r) => format!(
                "released ({}) at {} g/kWh",
                r.reason.as_str(),
                r.carbon_intensity
            ),
            JobEvent::Started(s) => format!("attempt {} started on {}", s.attempt, s.worker),
            JobEvent::Completed(c) => format!(
                "completed in {} ms: {:.6} kWh, {:.6} kg CO2 (baseline {:.6})",
                c.duration_ms, c.energy_kwh, c.emissions_kg, c.baseline_emissions_kg
            ),
            JobEvent::Failed(f) => format!(
                "attempt {} failed: {}{}",
                f.attempt,
                f.error,
                if f.will_retry { " (will retry)" } else { "" }
            ),
            JobEvent::Cancelled(c) => format!("cancelled: {}", c.reason),
            JobEvent::DeadLettered(d) => {
                format!("dead-lettered after {} attempts: {}", d.attempts, d.reason)
            }
            JobEvent::Retired(r) => format!(
                "retired ({}, finished {}); its earlier entries were deleted",
                r.ending.as_str(),
                crate::clock::format_time(r.finished_at)
            ),
            JobEvent::RetiredSummed(r) => format!(
                "the summaries of {} retired jobs, through {}, summed into this one",
                r.jobs, r.through
            ),
        }
    }
}
