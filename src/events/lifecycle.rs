//! The job state machine: which event may follow which. Pure, total, free of I/O.
//!
//! ```text
//! New ─Submitted→ Queued ─Scheduled→ Waiting(pool) ─Started→ Running ─Completed→ Done
//!                   │  ↑                  ↑    │               │
//!                   │  └──Released── Deferred  └─Cancelled     └─Failed(retry)→ Waiting(pool)
//!                   └─Deferred→ ┘                              └─Failed(final)→ Failing ─DeadLettered→ Dead
//! ```
//! A deferred job may be deferred again (re-planned on a newer forecast). Queued, Deferred and
//! Waiting jobs may be cancelled. Done, Cancelled and Dead jobs take nothing but `Retired`, once
//! their retention runs out; `Retired` also stands alone, as the first event of a job whose
//! earlier entries it replaced in the log (it carries what they added to the counters).

use std::fmt;

use super::{JobEvent, Pool};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// No event yet.
    New,
    /// Submitted (or released) and waiting to be routed.
    Queued,
    /// Held for a greener hour.
    Deferred,
    /// Routed to a pool and waiting for a worker (first try or retry).
    Waiting(Pool),
    /// A worker runs it.
    Running(Pool),
    /// Its last attempt failed with no retry left; only dead-lettering may follow.
    Failing,
    /// Finished successfully.
    Done,
    /// Cancelled before it started.
    Cancelled,
    /// Gave up after its last attempt.
    DeadLettered,
    /// Finished, and its history deleted from the log but for its `Retired` summary.
    Retired,
}

impl Stage {
    /// Whether the job has finished: nothing but its retirement may follow.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Stage::Done | Stage::Cancelled | Stage::DeadLettered | Stage::Retired
        )
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Waiting(p) => write!(f, "Waiting({})", p.as_str()),
            Stage::Running(p) => write!(f, "Running({})", p.as_str()),
            other => write!(f, "{other:?}"),
        }
    }
}

/// An event that may not follow the job's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event} may not follow {stage}{detail}")]
pub struct IllegalTransition {
    /// The state the job was in.
    pub stage: Stage,
    /// The offending event's type name.
    pub event: &'static str,
    /// More on why, or empty.
    pub detail: String,
}

/// A job's position in its lifecycle, folded from its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLifecycle {
    /// Current stage.
    pub stage: Stage,
    /// Attempts started so far.
    pub attempts: u32,
    /// Events applied so far: the job's version.
    pub version: u64,
}

impl Default for JobLifecycle {
    fn default() -> Self {
        JobLifecycle {
            stage: Stage::New,
            attempts: 0,
            version: 0,
        }
    }
}

impl JobLifecycle {
    /// The state after `event`, or why `event` may not happen now.
    pub fn next(&self, event: &JobEvent) -> Result<JobLifecycle, IllegalTransition> {
        use Stage::*;
        let illegal = |detail: String| IllegalTransition {
            stage: self.stage,
            event: event.type_name(),
            detail,
        };
        let mut attempts = self.attempts;
        let stage = match (self.stage, event) {
            (New, JobEvent::Submitted(_)) => Queued,
            (Queued, JobEvent::Scheduled(s)) => Waiting(s.pool),
            (Queued | Deferred, JobEvent::Deferred(_)) => Deferred,
            (Deferred, JobEvent::Released(_)) => Queued,
            (Queued | Deferred | Waiting(_), JobEvent::Cancelled(_)) => Cancelled,
            (Waiting(pool), JobEvent::Started(s)) => {
                if s.attempt != self.attempts + 1 {
                    return Err(illegal(format!(
                        " (attempt {} after {} attempts)",
                        s.attempt, self.attempts
                    )));
                }
                attempts = s.attempt;
                Running(pool)
            }
            (Running(_), JobEvent::Completed(_) | JobEvent::Failed(_))
                if attempt_of(event) != Some(self.attempts) =>
            {
                return Err(illegal(format!(
                    " (attempt {} while attempt {} runs)",
                    attempt_of(event).unwrap_or(0),
                    self.attempts
                )));
            }
            (Running(_), JobEvent::Completed(_)) => Done,
            (Running(pool), JobEvent::Failed(f)) if f.will_retry => Waiting(pool),
            (Running(_), JobEvent::Failed(_)) => Failing,
            (Failing, JobEvent::DeadLettered(_)) => DeadLettered,
            (New | Done | Cancelled | DeadLettered, JobEvent::Retired(_)) => Retired,
            // Belongs to no job: the nil job id stays new, and takes any number of these.
            (New, JobEvent::RetiredSummed(_)) => New,
            _ => return Err(illegal(String::new())),
        };
        Ok(JobLifecycle {
            stage,
            attempts,
            version: self.version + 1,
        })
    }

    /// Applies `event` in place when legal.
    pub fn apply(&mut self, event: &JobEvent) -> Result<(), IllegalTransition> {
        *self = self.next(event)?;
        Ok(())
    }

    /// Folds a whole history, stopping at the first illegal event.
    pub fn replay<'a>(
        events: impl IntoIterator<Item = &'a JobEvent>,
    ) -> Result<JobLifecycle, IllegalTransition> {
        let mut state = JobLifecycle::default();
        for event in events {
            state.apply(event)?;
        }
        Ok(state)
    }
}

fn attempt_of(event: &JobEvent) -> Option<u32> {
    match event {
        JobEvent::Completed(c) => Some(c.attempt),
        JobEvent::Failed(f) => Some(f.attempt),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::sample::one_of_each;
    use crate::events::*;

    /// Every kind of event, with the attempt fields filled in for a job that has made `attempts`
    /// attempts so far (so attempt numbering is right, and only the stage decides).
    fn kinds(attempts: u32) -> Vec<(&'static str, JobEvent)> {
        let all = one_of_each();
        let find = |name: &str| all.iter().find(|e| e.type_name() == name).cloned().unwrap();
        let scheduled = |pool| {
            JobEvent::Scheduled(JobScheduled {
                pool,
                decision: sample::decision("X", 1.0),
            })
        };
        let failed = |retry| {
            JobEvent::Failed(JobFailed {
                attempt: attempts,
                error: "boom".into(),
                will_retry: retry,
                retry_at: None,
                detail: None,
            })
        };
        let mut completed = find("JobCompleted");
        if let JobEvent::Completed(c) = &mut completed {
            c.attempt = attempts;
        }
        vec![
            ("submitted", find("JobSubmitted")),
            ("scheduled_fast", scheduled(Pool::Fast)),
            ("scheduled_eco", scheduled(Pool::Eco)),
            ("deferred", find("JobDeferred")),
            ("released", find("JobReleased")),
            (
                "started",
                JobEvent::Started(JobStarted {
                    worker: "w".into(),
                    attempt: attempts + 1,
                }),
            ),
            ("completed", completed),
            ("failed_retry", failed(true)),
            ("failed_final", failed(false)),
            ("cancelled", find("JobCancelled")),
            ("dead_lettered", find("JobDeadLettered")),
            ("retired", find("JobRetired")),
            ("retired_summed", find("RetiredJobsSummed")),
        ]
    }

    fn at(stage: Stage, attempts: u32) -> JobLifecycle {
        JobLifecycle {
            stage,
            attempts,
            version: 3,
        }
    }

    #[test]
    fn every_legal_pair_is_accepted_and_every_other_pair_rejected() {
        use Stage::*;
        let legal: &[(Stage, &str, Stage)] = &[
            (New, "submitted", Queued),
            (Queued, "scheduled_fast", Waiting(Pool::Fast)),
            (Queued, "scheduled_eco", Waiting(Pool::Eco)),
            (Queued, "deferred", Deferred),
            (Deferred, "deferred", Deferred),
            (Queued, "cancelled", Cancelled),
            (Deferred, "released", Queued),
            (Deferred, "cancelled", Cancelled),
            (Waiting(Pool::Fast), "started", Running(Pool::Fast)),
            (Waiting(Pool::Eco), "started", Running(Pool::Eco)),
            (Waiting(Pool::Fast), "cancelled", Cancelled),
            (Waiting(Pool::Eco), "cancelled", Cancelled),
            (Running(Pool::Fast), "completed", Done),
            (Running(Pool::Eco), "completed", Done),
            (Running(Pool::Fast), "failed_retry", Waiting(Pool::Fast)),
            (Running(Pool::Eco), "failed_retry", Waiting(Pool::Eco)),
            (Running(Pool::Fast), "failed_final", Failing),
            (Running(Pool::Eco), "failed_final", Failing),
            (Failing, "dead_lettered", DeadLettered),
            (New, "retired", Retired),
            (New, "retired_summed", New),
            (Done, "retired", Retired),
            (Cancelled, "retired", Retired),
            (DeadLettered, "retired", Retired),
        ];
        let stages = [
            New,
            Queued,
            Deferred,
            Waiting(Pool::Fast),
            Waiting(Pool::Eco),
            Running(Pool::Fast),
            Running(Pool::Eco),
            Failing,
            Done,
            Cancelled,
            DeadLettered,
            Retired,
        ];
        let mut checked = 0;
        for stage in stages {
            let attempts = u32::from(matches!(stage, Running(_) | Failing));
            for (name, event) in kinds(attempts) {
                let expected = legal
                    .iter()
                    .find(|(s, n, _)| *s == stage && *n == name)
                    .map(|(_, _, next)| *next);
                let got = at(stage, attempts).next(&event).map(|l| l.stage).ok();
                assert_eq!(got, expected, "{stage} + {name}");
                checked += 1;
            }
        }
        assert_eq!(checked, 12 * 13);
    }

    #[test]
    fn given_a_running_job_when_it_starts_again_then_it_is_rejected() {
        let running = at(Stage::Running(Pool::Fast), 1);
        let again = JobEvent::Started(JobStarted {
            worker: "w".into(),
            attempt: 2,
        });
        let err = running.next(&again).unwrap_err();
        assert_eq!(err.stage, Stage::Running(Pool::Fast));
        assert_eq!(err.to_string(), "JobStarted may not follow Running(FAST)");
    }

    #[test]
    fn given_a_waiting_job_when_it_starts_with_a_skipped_attempt_number_then_it_is_rejected() {
        let waiting = at(Stage::Waiting(Pool::Eco), 1);
        let skip = JobEvent::Started(JobStarted {
            worker: "w".into(),
            attempt: 3,
        });
        assert!(waiting.next(&skip).is_err());
    }

    #[test]
    fn completion_of_another_attempt_than_the_running_one_is_rejected() {
        let running = at(Stage::Running(Pool::Eco), 2);
        let kinds = kinds(1);
        let stale = &kinds.iter().find(|(n, _)| *n == "completed").unwrap().1;
        assert!(running.next(stale).is_err());
    }

    #[test]
    fn a_retried_job_runs_to_completion_and_counts_its_attempts() {
        let events = one_of_each();
        let by = |n: &str| events.iter().find(|e| e.type_name() == n).unwrap();
        let history = [
            by("JobSubmitted"),
            by("JobDeferred"),
            by("JobReleased"),
            by("JobScheduled"),
            by("JobStarted"),
            by("JobFailed"),
        ];
        let mut state = JobLifecycle::replay(history).unwrap();
        assert_eq!(state.stage, Stage::Waiting(Pool::Fast));
        state
            .apply(&JobEvent::Started(JobStarted {
                worker: "fast-1".into(),
                attempt: 2,
            }))
            .unwrap();
        state.apply(by("JobCompleted")).unwrap();
        assert_eq!(state.stage, Stage::Done);
        assert_eq!((state.attempts, state.version), (2, 8));
        assert!(state.stage.is_terminal());
    }
}
