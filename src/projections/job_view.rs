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

/// Groups of job-hash fields that change together: an event names the groups it changed, and
/// only those are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FieldGroups(u8);

impl FieldGroups {
    /// What was submitted (set once; the job enters the index with it).
    pub const SUBMISSION: FieldGroups = FieldGroups(1);
    /// Status, last change, attempt and version: every event changes these.
    pub const STATE: FieldGroups = FieldGroups(2);
    /// The routing decision and any deferral.
    pub const DECISION: FieldGroups = FieldGroups(4);
    /// The latest attempt's worker and start.
    pub const RUN: FieldGroups = FieldGroups(8);
    /// Error, completion record and end.
    pub const OUTCOME: FieldGroups = FieldGroups(16);
    /// Every field.
    pub const ALL: FieldGroups = FieldGroups(31);

    /// Whether every group of `other` is in `self`.
    pub fn contains(self, other: FieldGroups) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for FieldGroups {
    type Output = FieldGroups;

    fn bitor(self, other: FieldGroups) -> FieldGroups {
        FieldGroups(self.0 | other.0)
    }
}

impl std::ops::BitOrAssign for FieldGroups {
    fn bitor_assign(&mut self, other: FieldGroups) {
        self.0 |= other.0;
    }
}

/// Some of a job hash's fields: values to set and names to delete.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFields {
    /// Fields the view has.
    pub set: Vec<(&'static str, String)>,
    /// Fields the view has not.
    pub unset: Vec<&'static str>,
}

impl JobFields {
    /// Takes `later`'s value (or absence) for every field it names.
    pub fn merge(&mut self, later: JobFields) {
        let named =
            |n: &&'static str| later.set.iter().any(|(m, _)| m == n) || later.unset.contains(n);
        self.set.retain(|(n, _)| !named(n));
        self.unset.retain(|n| !named(n));
        self.set.extend(later.set);
        self.unset.extend(later.unset);
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
    /// The `JobRetired` that sums up this job once it has finished (`None` before): what its
    /// events added to the cumulative counters, which the summary keeps when they are deleted.
    pub fn retirement(&self) -> Option<JobRetired> {
        let (ending, finished_at) = match (self.lifecycle.stage, self.finished_at) {
            (Stage::Done, Some(at)) => (Ending::Done, at),
            (Stage::Cancelled, Some(at)) => (Ending::Cancelled, at),
            (Stage::DeadLettered, Some(at)) => (Ending::DeadLettered, at),
            _ => return None,
        };
        // Every attempt ends in one `JobFailed` or, for the last of a done job, the completion.
        let failed_attempts = self.lifecycle.attempts - u32::from(ending == Ending::Done);
        let run = self.completed.as_ref();
        Some(JobRetired {
            ending,
            finished_at,
            failed_attempts,
            duration_ms: run.map_or(0, |c| c.duration_ms),
            energy_kwh: run.map_or(0.0, |c| c.energy_kwh),
            emissions_kg: run.map_or(0.0, |c| c.emissions_kg),
            baseline_emissions_kg: run.map_or(0.0, |c| c.baseline_emissions_kg),
            idempotency_key: self.submitted.idempotency_key.clone(),
        })
    }

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
        self.fields_in(FieldGroups::ALL).set
    }

    /// The hash fields of `groups`, in the order of [`JobView::fields`]: those the view has, and
    /// the names of those it has not (to be deleted from a hash that may hold them).
    pub fn fields_in(&self, groups: FieldGroups) -> JobFields {
        use FieldGroups as G;
        let s = &self.submitted;
        let decision = self.decision.as_ref();
        let window = decision.and_then(|(_, d)| d.forecast_window.as_ref());
        let done = self.completed.as_ref();
        let mut f = JobFields::default();
        let mut put =
            |group: FieldGroups, name: &'static str, value: &dyn Fn() -> Option<String>| {
                if groups.contains(group) {
                    match value() {
                        Some(v) => f.set.push((name, v)),
                        None => f.unset.push(name),
                    }
                }
            };
        put(G::SUBMISSION, "job_id", &|| Some(self.job_id.to_string()));
        put(G::SUBMISSION, "type", &|| Some(s.job_type.clone()));
        put(G::SUBMISSION, "urgency", &|| {
            Some(s.urgency.as_str().to_owned())
        });
        put(G::STATE, "status", &|| {
            Some(self.status.as_str().to_owned())
        });
        put(G::SUBMISSION, "created_at", &|| {
            Some(format_time(self.created_at))
        });
        put(G::STATE, "updated_at", &|| {
            Some(format_time(self.updated_at))
        });
        put(G::STATE, "attempt", &|| {
            Some(self.lifecycle.attempts.to_string())
        });
        put(G::STATE, "version", &|| {
            Some(self.lifecycle.version.to_string())
        });
        put(G::DECISION, "mode", &|| {
            self.mode.map(|m| m.as_str().to_owned())
        });
        put(G::DECISION, "decision_timestamp", &|| {
            decision.map(|(at, _)| format_time(*at))
        });
        put(G::DECISION, "carbon_intensity_at_decision", &|| {
            decision.map(|(_, d)| d.carbon_intensity.to_string())
        });
        put(G::DECISION, "policy_rule_id", &|| {
            decision.map(|(_, d)| d.policy_rule_id.clone())
        });
        put(G::DECISION, "decision_reason", &|| {
            decision.map(|(_, d)| d.reason.clone())
        });
        put(G::DECISION, "forecast_best_start", &|| {
            window.map(|w| format_time(w.best_start))
        });
        put(G::DECISION, "forecast_expected_intensity", &|| {
            window.map(|w| w.expected_intensity.to_string())
        });
        put(G::DECISION, "defer_deadline_ts", &|| {
            self.defer_deadline.map(|t| t.timestamp().to_string())
        });
        put(G::DECISION, "planned_release", &|| {
            self.planned_release.map(format_time)
        });
        put(G::SUBMISSION, "deadline", &|| s.deadline.map(format_time));
        put(G::SUBMISSION, "duration_s", &|| {
            s.duration_s.map(|d| d.to_string())
        });
        put(G::SUBMISSION, "power_w", &|| {
            s.power_w.map(|p| p.to_string())
        });
        put(G::SUBMISSION, "idempotency_key", &|| {
            s.idempotency_key.clone()
        });
        put(G::SUBMISSION, "tenant", &|| s.tenant.clone());
        put(G::RUN, "worker", &|| self.worker.clone());
        put(G::RUN, "started_at", &|| self.started_at.map(format_time));
        put(G::OUTCOME, "error", &|| self.error.clone());
        put(G::OUTCOME, "duration_ms", &|| {
            done.map(|c| c.duration_ms.to_string())
        });
        put(G::OUTCOME, "energy_kwh", &|| {
            done.map(|c| c.energy_kwh.to_string())
        });
        put(G::OUTCOME, "emissions_kg", &|| {
            done.map(|c| c.emissions_kg.to_string())
        });
        put(G::OUTCOME, "baseline_emissions_kg", &|| {
            done.map(|c| c.baseline_emissions_kg.to_string())
        });
        put(G::OUTCOME, "result", &|| done.map(|c| c.result.clone()));
        put(G::OUTCOME, "finished_at", &|| {
            self.finished_at.map(format_time)
        });
        f
    }
}
