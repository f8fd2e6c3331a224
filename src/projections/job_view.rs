//! The `job:<id>` read model: the seed's fields and string formats, plus carbonq's own.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::clock::format_time;
use crate::events::*;

/// The seed's job statuses plus carbonq's terminal ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Submitted or released, waiting to be routed.
    Queued,
    /// Routed to a pool, waiting for a worker (also between retries).
    Scheduled,
    /// Held for a greener hour.
    Deferred,
    /// A worker runs it.
    Running,
    /// Finished.
    Done,
    /// Cancelled before it started.
    Cancelled,
    /// Failed its last attempt.
    DeadLetter,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 7] = [
        Status::Queued,
        Status::Scheduled,
        Status::Deferred,
        Status::Running,
        Status::Done,
        Status::Cancelled,
        Status::DeadLetter,
    ];

    /// The wire name (`QUEUED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "QUEUED",
            Status::Scheduled => "SCHEDULED",
            Status::Deferred => "DEFERRED",
            Status::Running => "RUNNING",
            Status::Done => "DONE",
            Status::Cancelled => "CANCELLED",
            Status::DeadLetter => "DEAD_LETTER",
        }
    }

    /// Whether the job will not change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Done | Status::Cancelled | Status::DeadLetter)
    }
}

/// The seed's routing modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// Fast pool.
    Fast,
    /// Efficient pool.
    Eco,
    /// Deferred.
    Defer,
}

impl Mode {
    /// All modes.
    pub const ALL: [Mode; 3] = [Mode::Fast, Mode::Eco, Mode::Defer];

    /// `FAST`, `ECO`, `DEFER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Fast => "FAST",
            Mode::Eco => "ECO",
            Mode::Defer => "DEFER",
        }
    }
}

impl From<Pool> for Mode {
    fn from(pool: Pool) -> Self {
        match pool {
            Pool::Fast => Mode::Fast,
            Pool::Eco => Mode::Eco,
        }
    }
}

/// Everything known about one job, typed; rendered to the hash's strings only when written.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    /// The job.
    pub job_id: Uuid,
    /// Where it is in its lifecycle.
    pub lifecycle: JobLifecycle,
    /// Current status.
    pub status: Status,
    /// Last routing mode, once decided.
    pub mode: Option<Mode>,
    /// What was submitted.
    pub submitted: JobSubmitted,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was last routed, and why.
    pub decision: Option<(DateTime<Utc>, Decision)>,
    /// Deferred until at most this.
    pub defer_deadline: Option<DateTime<Utc>>,
    /// The planner's chosen release, if any.
    pub planned_release: Option<DateTime<Utc>>,
    /// Worker of the latest attempt.
    pub worker: Option<String>,
    /// When the latest attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// The latest error.
    pub error: Option<String>,
    /// The completion record.
    pub completed: Option<JobCompleted>,
    /// When it reached a terminal state.
    pub finished_at: Option<DateTime<Utc>>,
}

impl JobView {
    /// The view right after submission.
    pub fn submitted(job_id: Uuid, submitted: JobSubmitted, at: DateTime<Utc>) -> Self {
        JobView {
            job_id,
            lifecycle: JobLifecycle::default(),
            status: Status::Queued,
            mode: None,
            submitted,
            created_at: at,
            updated_at: at,
            decision: None,
            defer_deadline: None,
            planned_release: None,
            worker: None,
            started_at: None,
            error: None,
            completed: None,
            finished_at: None,
        }
    }

    /// The hash fields, in a fixed order; unset fields are left out.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let s = &self.submitted;
        let mut f: Vec<(&'static str, String)> = vec![
            ("job_id", self.job_id.to_string()),
            ("type", s.job_type.clone()),
            ("urgency", s.urgency.as_str().to_owned()),
            ("status", self.status.as_str().to_owned()),
            ("created_at", format_time(self.created_at)),
            ("updated_at", format_time(self.updated_at)),
            ("attempt", self.lifecycle.attempts.to_string()),
            ("version", self.lifecycle.version.to_string()),
        ];
        let mut opt = |name: &'static str, value: Option<String>| {
            if let Some(v) = value {
                f.push((name, v));
            }
        };
        opt("mode", self.mode.map(|m| m.as_str().to_owned()));
        if let Some((at, d)) = &self.decision {
            opt("decision_timestamp", Some(format_time(*at)));
            opt(
                "carbon_intensity_at_decision",
                Some(d.carbon_intensity.to_string()),
            );
            opt("policy_rule_id", Some(d.policy_rule_id.clone()));
            opt("decision_reason", Some(d.reason.clone()));
            if let Some(w) = &d.forecast_window {
                opt("forecast_best_start", Some(format_time(w.best_start)));
                opt(
                    "forecast_expected_intensity",
                    Some(w.expected_intensity.to_string()),
                );
            }
        }
        opt(
            "defer_deadline_ts",
            self.defer_deadline.map(|t| t.timestamp().to_string()),
        );
        opt("planned_release", self.planned_release.map(format_time));
        opt("deadline", s.deadline.map(format_time));
        opt("duration_s", s.duration_s.map(|d| d.to_string()));
        opt("power_w", s.power_w.map(|p| p.to_string()));
        opt("idempotency_key", s.idempotency_key.clone());
        opt("tenant", s.tenant.clone());
        opt("worker", self.worker.clone());
        opt("started_at", self.started_at.map(format_time));
        opt("error", self.error.clone());
        if let Some(c) = &self.completed {
            opt("duration_ms", Some(c.duration_ms.to_string()));
            opt("energy_kwh", Some(c.energy_kwh.to_string()));
            opt("emissions_kg", Some(c.emissions_kg.to_string()));
            opt(
                "baseline_emissions_kg",
                Some(c.baseline_emissions_kg.to_string()),
            );
            opt("result", Some(c.result.clone()));
        }
        opt("finished_at", self.finished_at.map(format_time));
        f
    }
}
