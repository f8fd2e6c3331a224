//! The real actors driven through a small day on the virtual clock.

use std::time::Duration;

use carbonq::actors::executor::Executors;
use carbonq::actors::intake::Limits;
use carbonq::actors::scheduler::ReleaseMode;
use carbonq::actors::submission::SubmitRequest;
use carbonq::actors::worker::{RetryPolicy, RunDefaults};
use carbonq::actors::SystemConfig;
use carbonq::grid::{ClockMapping, GridSignal, Region};
use carbonq::policy::Policy;
use carbonq::projections::Status;
use carbonq::sim::virtual_day::{run_day, DayRun, DaySetup};
use carbonq::store::Bound;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 3, 15, 0, 0, 0).unwrap()
}

fn setup() -> DaySetup {
    let trace = Region::Gb.shared_trace().unwrap();
    let anchor = trace.start();
    DaySetup {
        start: start(),
        grid: GridSignal::replay(trace, ClockMapping::Offset { anchor }),
        policy: Policy::from_path(concat!(env!("CARGO_MANIFEST_DIR"), "/config/policy.yaml"))
            .unwrap(),
        system: SystemConfig {
            fast_workers: 3,
            eco_workers: 2,
            limits: Limits {
                max_pending: 100_000,
                max_waiting: 100_000,
            },
            tick: Duration::from_secs(60),
            release_mode: ReleaseMode::GreenWindow,
            retry: RetryPolicy {
                max_attempts: 3,
                backoff: Duration::from_secs(5),
            },
            defaults: RunDefaults { power_w: 300.0 },
            planning: None,
            retention: None,
        },
        executors: Executors::simulated(),
        seed: 7,
        virtual_clock: true,
        crash_at: None,
    }
}

fn submissions(n: i64) -> Vec<(DateTime<Utc>, SubmitRequest)> {
    (0..n)
        .map(|i| {
            let at = start() + TimeDelta::minutes(i * 7);
            let urgency = ["critical", "normal", "flexible"][(i % 3) as usize];
            let duration = 300 + (i % 5) as u64 * 120;
            (
                at,
                SubmitRequest {
                    job_type: Some("batch_inference".into()),
                    urgency: Some(urgency.into()),
                    deadline: Some(at + TimeDelta::seconds(duration as i64 + 3600 * (i % 4))),
                    duration_s: Some(duration),
                    power_w: Some(235.0),
                    ..Default::default()
                },
            )
        })
        .collect()
}

fn run(n: i64) -> DayRun {
    run_day(setup(), submissions(n), |_, _| {}).unwrap()
}

#[test]
fn the_virtual_clock_drives_the_real_actors_through_a_day_and_every_job_finishes_in_time() {
    let day = run(200);
    assert_eq!(day.job_ids.iter().flatten().count(), 200);
    let mut deferred = 0;
    for view in day.model.jobs.values() {
        assert_eq!(view.status, Status::Done, "{view:?}");
        let finished = view.finished_at.unwrap();
        assert!(
            finished <= view.submitted.deadline.unwrap(),
            "missed deadline: {view:?}"
        );
        if view.defer_deadline.is_some() {
            deferred += 1;
        }
    }
    assert!(deferred > 0, "the seed policy deferred nothing on a GB day");
    let c = &day.model.counters;
    assert!(c.emissions_kg.value() > 0.0 && c.baseline_emissions_kg.value() > 0.0);
}

#[test]
fn the_same_inputs_give_the_same_event_log() {
    let log = |day: &DayRun| {
        let store = carbonq::store::EventStore::Memory(day.log.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(store.read_range(Bound::Open, Bound::Open, usize::MAX))
            .unwrap()
            .into_iter()
            .map(|(_, e)| e.unwrap())
            .collect::<Vec<_>>()
    };
    let (a, b) = (run(60), run(60));
    let (la, lb) = (log(&a), log(&b));
    assert!(!la.is_empty());
    assert_eq!(la, lb);
}

#[test]
fn a_worker_command_that_fails_twice_then_succeeds_leaves_three_attempts_and_one_completion() {
    use carbonq::actors::executor::Executor;
    use carbonq::events::JobEvent;
    let mut setup = setup();
    setup.virtual_clock = false;
    setup.system.retry.backoff = Duration::from_millis(10);
    setup.executors = Executors {
        default: Executor::Command {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                "cat >/dev/null; test \"$CARBONQ_ATTEMPT\" -ge 3".into(),
            ],
            timeout_s: 30,
        },
        ..Executors::simulated()
    };
    let request = SubmitRequest {
        job_type: Some("flaky".into()),
        urgency: Some("critical".into()),
        ..Default::default()
    };
    let day = run_day(setup, vec![(start(), request)], |_, _| {}).unwrap();
    let id = day.job_ids[0].unwrap();
    let store = carbonq::store::EventStore::Memory(day.log.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let history: Vec<JobEvent> = rt
        .block_on(store.job_history(id))
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.unwrap().event)
        .collect();
    let count = |name: &str| history.iter().filter(|e| e.type_name() == name).count();
    assert_eq!(count("JobStarted"), 3, "{history:#?}");
    assert_eq!(count("JobFailed"), 2);
    assert_eq!(count("JobCompleted"), 1);
    assert_eq!(day.model.job(&id).unwrap().status, Status::Done);
}
