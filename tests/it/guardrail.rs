//! Jobs that reach their deadline guardrail while the workers are busy: each one held to its
//! latest start (by the seed's rules, or by the planner on a forecast that keeps falling) meets a
//! queue of jobs without deadline that arrived before it; not one may finish a second late.

use std::sync::Arc;
use std::time::Duration;

use carbonq::actors::executor::Executors;
use carbonq::actors::intake::Limits;
use carbonq::actors::scheduler::ReleaseMode;
use carbonq::actors::submission::SubmitRequest;
use carbonq::actors::worker::{RetryPolicy, RunDefaults};
use carbonq::actors::SystemConfig;
use carbonq::grid::{ClockMapping, Forecast, GridSignal, Trace};
use carbonq::planner::CapacityPlan;
use carbonq::policy::Policy;
use carbonq::projections::Status;
use carbonq::sim::virtual_day::{run_day, DayRun, DaySetup};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 3, 15, 9, 0, 0).unwrap()
}

/// A day of 5-minute points: flat at 300 gCO2/kWh (medium: the seed rules hold flexible jobs),
/// or falling steadily from 390 so the greenest start is always the latest.
fn trace(falling: bool) -> Arc<Trace> {
    let values = (0..288)
        .map(|i| if falling { 390.0 - i as f64 } else { 300.0 })
        .collect();
    let start = Utc.with_ymd_and_hms(2023, 3, 15, 0, 0, 0).unwrap();
    Arc::new(Trace::from_values("test", start, TimeDelta::minutes(5), values).unwrap())
}

fn setup(planned: bool) -> DaySetup {
    let trace = trace(planned);
    let anchor = trace.start();
    let mut grid = GridSignal::replay(Arc::clone(&trace), ClockMapping::Offset { anchor });
    if planned {
        grid = grid.with_forecast(Forecast::Perfect(trace));
    }
    DaySetup {
        start: anchor,
        grid,
        policy: Policy::from_path(concat!(env!("CARGO_MANIFEST_DIR"), "/config/policy.yaml"))
            .unwrap(),
        system: SystemConfig {
            fast_workers: 1,
            eco_workers: 1,
            limits: Limits::NONE,
            tick: Duration::from_secs(60),
            release_mode: if planned {
                ReleaseMode::OwnTime
            } else {
                ReleaseMode::GreenWindow
            },
            retry: RetryPolicy {
                max_attempts: 3,
                backoff: Duration::from_secs(5),
            },
            defaults: RunDefaults { power_w: 300.0 },
            planning: planned.then(|| CapacityPlan::new(TimeDelta::minutes(15), 2).unwrap()),
            retention: None,
        },
        executors: Executors::simulated(),
        seed: 5,
        virtual_clock: true,
        crash_at: None,
    }
}

fn job(urgency: &str, minutes: u64, deadline: Option<DateTime<Utc>>) -> SubmitRequest {
    SubmitRequest {
        job_type: Some("evaluation".into()),
        urgency: Some(urgency.into()),
        deadline,
        duration_s: Some(minutes * 60),
        power_w: Some(400.0),
        ..Default::default()
    }
}

/// Every hour from 09:00: a flexible 10-minute job due 40 minutes later (so its latest start
/// is 30 minutes on), then 5 minutes later a burst of `burst` critical 10-minute jobs (FAST) and
/// as many normal ones (ECO at medium intensity), none with a deadline. Run at submission on the
/// two workers every deadline holds (the flexible job starts at once); held towards its latest
/// start, it finds both pools' queues full of jobs queued before it.
fn workload(rounds: i64, burst: usize) -> Vec<(DateTime<Utc>, SubmitRequest)> {
    let mut out = Vec::new();
    for r in 0..rounds {
        let at = t0() + TimeDelta::hours(r);
        out.push((at, job("flexible", 10, Some(at + TimeDelta::minutes(40)))));
        for urgency in ["critical", "normal"] {
            for _ in 0..burst {
                out.push((at + TimeDelta::minutes(5), job(urgency, 10, None)));
            }
        }
    }
    out
}

/// Asserts that every job finished, none after its deadline, and returns how many deadline
/// jobs were held and waited in a queue.
fn check(day: &DayRun) -> usize {
    let mut held = 0;
    for view in day.model.jobs.values() {
        assert_eq!(view.status, Status::Done, "{view:?}");
        let Some(deadline) = view.submitted.deadline else {
            continue;
        };
        let finished = view.finished_at.unwrap();
        assert!(
            finished <= deadline,
            "{} late by {} s: held until {:?}, started {:?}",
            view.job_id,
            (finished - deadline).num_seconds(),
            view.defer_deadline,
            view.started_at
        );
        if view.defer_deadline.is_some() {
            held += 1;
        }
    }
    held
}

#[test]
fn jobs_held_by_the_seed_rules_meet_their_deadline_behind_a_burst_of_jobs_without_one() {
    let day = run_day(setup(false), workload(8, 4), |_, _| {}).unwrap();
    // The seed holds each flexible job 10 minutes, then it queues behind the burst
    assert_eq!(check(&day), 8);
}

#[test]
fn jobs_planned_at_their_latest_start_meet_their_deadline_behind_a_burst_of_jobs_without_one() {
    let day = run_day(setup(true), workload(8, 4), |_, _| {}).unwrap();
    assert_eq!(check(&day), 8);
    // And the planner held them as late as it may: within 15 minutes of the latest start
    for view in day.model.jobs.values() {
        if let (Some(deadline), Some(held)) = (view.submitted.deadline, view.planned_release) {
            let latest = deadline - TimeDelta::minutes(10);
            assert!(held >= latest - TimeDelta::minutes(15), "{view:?}");
        }
    }
}

#[test]
fn held_and_queued_jobs_recovered_after_a_crash_still_meet_their_deadline() {
    for planned in [false, true] {
        // Given the same hours, with the process killed 7 minutes into the third: its flexible
        // job is held, the burst is running and queued
        let mut setup = setup(planned);
        setup.crash_at = Some(t0() + TimeDelta::hours(2) + TimeDelta::minutes(7));
        let day = run_day(setup, workload(8, 4), |_, _| {}).unwrap();
        // Then the new process put every job back, and none finishes late
        assert_eq!(
            day.job_ids.iter().flatten().count(),
            8 * 9,
            "planned {planned}"
        );
        assert_eq!(check(&day), 8, "planned {planned}");
        // And the runs cut by the crash ran again as second attempts
        let retried = day
            .model
            .jobs
            .values()
            .filter(|v| v.lifecycle.attempts > 1)
            .count();
        assert_eq!(retried, 2, "planned {planned}");
    }
}
