//! Which deadline misses are carbonq's doing.
//!
//! A job's deadline is carbonq's promise only if the job could have met it when it was
//! submitted: run at once on the workers as sized. [`feasible_at_submission`] answers that by
//! running every job at submission, first come first served, on the same number of workers (the
//! baseline the report compares with, with its queueing made explicit). A late job that was
//! feasible is a [`MissCause::Carbonq`] miss; the others are [`MissCause::Infeasible`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::report::JobOutcome;
use super::workload::JobSpec;
use crate::clock::format_time;

/// Why a job finished after its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissCause {
    /// Even run at once on the workers as sized, it would have finished late.
    Infeasible,
    /// It could have met its deadline: carbonq's choices made it late.
    Carbonq,
}

/// A job that finished after its deadline; fields in `report.json` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Miss {
    /// Why it was late.
    pub cause: MissCause,
    /// Seconds after the deadline it finished.
    pub late_s: f64,
    /// Job type.
    pub job_type: String,
    /// Submission (RFC 3339).
    pub submitted: String,
    /// Deadline (RFC 3339).
    pub deadline: String,
    /// Run length, seconds.
    pub duration_s: u64,
    /// Start (RFC 3339).
    pub started: String,
    /// The pool it ran on.
    pub mode: String,
    /// The rule that routed it.
    pub policy_rule_id: String,
}

/// For each job (in the given order), whether it meets its deadline when every job runs at
/// its submission, first come first served, on `workers` workers. Jobs without a deadline are
/// feasible.
pub fn feasible_at_submission(jobs: &[&JobSpec], workers: usize) -> Vec<bool> {
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| (jobs[i].submit_at, i));
    // When each busy worker comes free; the free ones are not in the heap.
    let mut busy: BinaryHeap<Reverse<DateTime<Utc>>> = BinaryHeap::new();
    let mut feasible = vec![true; jobs.len()];
    for i in order {
        let job = jobs[i];
        let mut start = job.submit_at;
        if busy.len() >= workers.max(1) {
            if let Some(Reverse(free)) = busy.pop() {
                start = start.max(free);
            }
        }
        let end = start + job.duration();
        busy.push(Reverse(end));
        feasible[i] = job.deadline.is_none_or(|d| end <= d);
    }
    feasible
}

/// The late jobs among `outcomes`, each with its cause, latest first within each cause
/// (carbonq's first).
pub fn misses(outcomes: &[JobOutcome], workers: usize) -> Vec<Miss> {
    let specs: Vec<&JobSpec> = outcomes.iter().map(|o| &o.spec).collect();
    let feasible = feasible_at_submission(&specs, workers);
    let mut out: Vec<Miss> = outcomes
        .iter()
        .zip(feasible)
        .filter(|(o, _)| o.missed_deadline())
        .filter_map(|(o, feasible)| {
            let deadline = o.spec.deadline?;
            Some(Miss {
                cause: if feasible {
                    MissCause::Carbonq
                } else {
                    MissCause::Infeasible
                },
                late_s: (o.finished_at - deadline).num_milliseconds() as f64 / 1000.0,
                job_type: o.spec.job_type.clone(),
                submitted: format_time(o.spec.submit_at),
                deadline: format_time(deadline),
                duration_s: o.spec.duration_s,
                started: format_time(o.started_at),
                mode: o.mode.clone(),
                policy_rule_id: o.policy_rule_id.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (b.cause == MissCause::Carbonq)
            .cmp(&(a.cause == MissCause::Carbonq))
            .then(b.late_s.total_cmp(&a.late_s))
            .then_with(|| a.submitted.cmp(&b.submitted))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Urgency;
    use chrono::TimeDelta;

    fn t(m: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2023-03-14T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + TimeDelta::minutes(m)
    }

    fn spec(submit: i64, minutes: u64, deadline: Option<i64>) -> JobSpec {
        JobSpec {
            submit_at: t(submit),
            job_type: "training".into(),
            urgency: Urgency::Flexible,
            duration_s: minutes * 60,
            power_w: 1000.0,
            deadline: deadline.map(t),
        }
    }

    #[test]
    fn a_job_is_feasible_when_running_everything_at_submission_meets_its_deadline() {
        // Given one worker, a 60-minute job at 0 and a 30-minute job at 10 due at 90
        let a = spec(0, 60, None);
        let b = spec(10, 30, Some(90));
        let c = spec(10, 30, Some(80));
        // Then b, queued until 60, finishes at 90: feasible; c (queued behind b) is not
        assert_eq!(feasible_at_submission(&[&a, &b], 1), [true, true]);
        assert_eq!(
            feasible_at_submission(&[&a, &b, &c], 1),
            [true, true, false]
        );
        // And with two workers both are
        assert_eq!(feasible_at_submission(&[&a, &b, &c], 2), [true, true, true]);
        // And a deadline shorter than the run is never feasible
        assert_eq!(
            feasible_at_submission(&[&spec(0, 30, Some(20))], 4),
            [false]
        );
    }

    #[test]
    fn late_jobs_are_listed_with_their_cause_carbonq_first() {
        let outcome = |s: JobSpec, start: i64| {
            let tr = crate::grid::Region::Gb.trace().unwrap();
            let d = s.duration();
            JobOutcome::account(s, t(start), t(start) + d, 1000.0, "ECO", "R", tr)
        };
        // Given a feasible job finished 5 minutes late and an infeasible one 10 minutes late
        let outcomes = vec![
            outcome(spec(0, 30, Some(20)), 0),
            outcome(spec(0, 30, Some(60)), 35),
            outcome(spec(0, 30, Some(60)), 0),
        ];
        let m = misses(&outcomes, 4);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].cause, m[0].late_s), (MissCause::Carbonq, 300.0));
        assert_eq!((m[1].cause, m[1].late_s), (MissCause::Infeasible, 600.0));
        assert_eq!(m[0].started, "2023-03-14T10:35:00.000Z");
    }
}
