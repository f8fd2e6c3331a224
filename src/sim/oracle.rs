//! The oracle: what the jobs would emit with perfect knowledge of the actual intensity.
//!
//! Each shiftable job (not critical, with a deadline) starts at its best moment in
//! `[submit_at, deadline − duration]` on the actual trace; the others start on submission.
//! Workers are ignored: every job gets its best window even if a thousand want the same hour.
//! The search is exact over continuous start times: a run's emissions are piecewise linear in
//! its start, with breakpoints where the start or the end crosses an interval boundary, so
//! the window's ends and those breakpoints are the only candidates.
//!
//! Hence the invariant: for any schedule that starts every job no earlier than its
//! submission, runs it uninterrupted at its given power and duration, starts critical and
//! deadline-less jobs on submission, meets every deadline and keeps runs inside the trace,
//! the oracle's total is a lower bound (with or without contention for workers).
//!
//! The end of the trace: a job's latest start is clipped so its run ends inside the trace;
//! a job that cannot run wholly inside the trace from its submission starts on submission,
//! and only the part of its run inside the trace is counted ([`accounted_emissions_kg`]).

use chrono::{DateTime, TimeDelta, Utc};

use super::workload::JobSpec;
use crate::grid::Trace;

/// How [`oracle`] computes its bound, for the report.
pub const ORACLE_METHOD: &str =
    "per-job best start on actual intensity in [submit, deadline - duration] \
(exact over continuous start times), critical and deadline-less jobs at submission, no worker \
contention: a lower bound for any non-interrupting schedule of the same jobs that meets their \
deadlines; runs clipped to the trace";

/// The oracle's emissions, per job and in total.
#[derive(Clone, Debug, PartialEq)]
pub struct OracleResult {
    /// Emissions of each job at its oracle start, kg, in the order of the jobs given.
    pub per_job_kg: Vec<f64>,
    /// The oracle start of each job, in the same order.
    pub per_job_start: Vec<DateTime<Utc>>,
    /// Sum of `per_job_kg`.
    pub total_kg: f64,
    /// How the bound was computed ([`ORACLE_METHOD`]).
    pub method: &'static str,
}

/// Emissions in kg of `power_w` watts over `[start, end)`, counting only the part inside
/// `actual` (0 when none is). The one accounting rule for carbonq, baseline and oracle.
pub fn accounted_emissions_kg(
    actual: &Trace,
    power_w: f64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> f64 {
    let (a, b) = (start.max(actual.start()), end.min(actual.end()));
    if a >= b {
        return 0.0;
    }
    actual.emissions_kg(power_w, a, b).unwrap_or(0.0)
}

/// The oracle lower bound of `jobs` on the `actual` trace (see the module docs).
pub fn oracle(jobs: &[JobSpec], actual: &Trace) -> OracleResult {
    let mut per_job_kg = Vec::with_capacity(jobs.len());
    let mut per_job_start = Vec::with_capacity(jobs.len());
    for job in jobs {
        let (start, kg) = best_start(job, actual);
        per_job_kg.push(kg);
        per_job_start.push(start);
    }
    OracleResult {
        total_kg: per_job_kg.iter().sum(),
        per_job_kg,
        per_job_start,
        method: ORACLE_METHOD,
    }
}

/// The job's oracle start and its emissions, kg.
fn best_start(job: &JobSpec, actual: &Trace) -> (DateTime<Utc>, f64) {
    let d = job.duration();
    let at_submit = (
        job.submit_at,
        accounted_emissions_kg(actual, job.power_w, job.submit_at, job.submit_at + d),
    );
    let Some(latest) = job.latest_start().filter(|_| job.is_shiftable()) else {
        return at_submit;
    };
    let lo = job.submit_at;
    let hi = latest.min(actual.end() - d);
    if hi < lo || lo < actual.start() {
        return at_submit;
    }
    let cost = |s: DateTime<Utc>| actual.emissions_kg(job.power_w, s, s + d);
    let mut best = (lo, cost(lo).unwrap_or(at_submit.1));
    let mut offer = |s: DateTime<Utc>| {
        if let Some(kg) = cost(s) {
            if kg < best.1 || (kg == best.1 && s < best.0) {
                best = (s, kg);
            }
        }
    };
    offer(hi);
    // Starts on a boundary, and starts whose end is on a boundary.
    for shift in [TimeDelta::zero(), d] {
        let mut b = first_boundary_at_or_after(actual, lo + shift);
        while b - shift <= hi {
            offer(b - shift);
            b += actual.resolution();
        }
    }
    best
}

/// The first interval boundary of `trace` at or after `t` (`t` inside or before the trace).
fn first_boundary_at_or_after(trace: &Trace, t: DateTime<Utc>) -> DateTime<Utc> {
    if t <= trace.start() {
        return trace.start();
    }
    match trace.index_of(t) {
        Some(i) if trace.time_of(i) == t => t,
        Some(i) => trace.time_of(i + 1),
        None => trace.end(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Urgency;
    use crate::grid::Region;
    use crate::sim::workload::generate;
    use rand::{Rng, SeedableRng};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn job(submit: &str, duration_s: u64, deadline: Option<&str>, urgency: Urgency) -> JobSpec {
        JobSpec {
            submit_at: t(submit),
            job_type: "batch_inference".into(),
            urgency,
            duration_s,
            power_w: 1000.0,
            deadline: deadline.map(t),
        }
    }

    #[test]
    fn oracle_takes_the_cheapest_window_and_leaves_critical_jobs_alone() {
        // Given hourly intensities 400, 300, 100, 200
        let tr = Trace::from_values(
            "h",
            t("2023-03-14T00:00:00Z"),
            TimeDelta::hours(1),
            vec![400.0, 300.0, 100.0, 200.0],
        )
        .unwrap();
        // When a flexible 1-h job and the same job as critical ask for an oracle
        let flexible = job(
            "2023-03-14T00:00:00Z",
            3600,
            Some("2023-03-14T04:00:00Z"),
            Urgency::Flexible,
        );
        let critical = JobSpec {
            urgency: Urgency::Critical,
            ..flexible.clone()
        };
        let r = oracle(&[flexible, critical], &tr);
        // Then the flexible one runs 02:00–03:00 (1 kW × 100 g/kWh = 0.1 kg), the critical one now
        assert_eq!(r.per_job_start[0], t("2023-03-14T02:00:00Z"));
        assert!((r.per_job_kg[0] - 0.1).abs() < 1e-12);
        assert_eq!(r.per_job_start[1], t("2023-03-14T00:00:00Z"));
        assert!((r.per_job_kg[1] - 0.4).abs() < 1e-12);
        assert!((r.total_kg - 0.5).abs() < 1e-12);
        assert_eq!(r.method, ORACLE_METHOD);
    }

    #[test]
    fn oracle_finds_the_best_start_between_grid_points() {
        // Given 100 for one hour, then 400: a 90-min job must straddle
        let tr = Trace::from_values(
            "h",
            t("2023-03-14T00:00:00Z"),
            TimeDelta::hours(1),
            vec![400.0, 100.0, 400.0, 400.0],
        )
        .unwrap();
        // When it may start from 00:20 to 01:40
        let j = job(
            "2023-03-14T00:20:00Z",
            5400,
            Some("2023-03-14T03:10:00Z"),
            Urgency::Flexible,
        );
        let r = oracle(&[j], &tr);
        // Then every start in [00:30, 01:00] is optimal (1 h at 100 + 0.5 h at 400): the earliest
        assert_eq!(r.per_job_start[0], t("2023-03-14T00:30:00Z"));
        assert!((r.per_job_kg[0] - 0.3).abs() < 1e-12);
    }

    #[test]
    fn runs_are_clipped_to_the_trace() {
        let tr = Trace::from_values(
            "h",
            t("2023-03-14T00:00:00Z"),
            TimeDelta::hours(1),
            vec![100.0, 100.0],
        )
        .unwrap();
        // A job submitted 30 min before the end that runs 1 h counts only its first half hour
        let j = job(
            "2023-03-14T01:30:00Z",
            3600,
            Some("2023-03-14T05:00:00Z"),
            Urgency::Flexible,
        );
        let r = oracle(&[j], &tr);
        assert_eq!(r.per_job_start[0], t("2023-03-14T01:30:00Z"));
        assert!((r.per_job_kg[0] - 0.05).abs() < 1e-12);
        assert_eq!(
            accounted_emissions_kg(
                &tr,
                1000.0,
                t("2023-03-15T00:00:00Z"),
                t("2023-03-15T01:00:00Z")
            ),
            0.0
        );
    }

    #[test]
    fn oracle_is_below_running_at_submission_and_below_a_random_feasible_schedule() {
        // Given a generated week on the GB trace
        let tr = Region::Gb.trace().unwrap();
        let jobs = generate(21, t("2023-05-01T00:00:00Z"), 7, 3000);
        let r = oracle(&jobs, tr);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let (mut at_submit, mut random) = (0.0, 0.0);
        for (i, j) in jobs.iter().enumerate() {
            let d = j.duration();
            let now = accounted_emissions_kg(tr, j.power_w, j.submit_at, j.submit_at + d);
            // When each job instead starts at a random feasible moment
            let start = match j.latest_start().filter(|_| j.is_shiftable()) {
                Some(latest) => {
                    let slack = (latest - j.submit_at).num_seconds();
                    j.submit_at + TimeDelta::seconds(rng.random_range(0..=slack))
                }
                None => j.submit_at,
            };
            let rand_kg = accounted_emissions_kg(tr, j.power_w, start, start + d);
            // Then the oracle is no worse, job by job
            assert!(r.per_job_kg[i] <= now + 1e-12, "job {i}");
            assert!(r.per_job_kg[i] <= rand_kg + 1e-12, "job {i}");
            let s = r.per_job_start[i];
            assert!(s >= j.submit_at && j.deadline.is_none_or(|dl| s + d <= dl));
            at_submit += now;
            random += rand_kg;
        }
        // And in total, strictly below both on a real grid
        assert!(r.total_kg < random);
        assert!(r.total_kg < at_submit);
    }
}
