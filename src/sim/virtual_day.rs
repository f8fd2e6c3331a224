//! Runs the real actor system on a virtual clock: tokio's paused clock jumps ahead whenever
//! every task waits, so a day of submissions, deferrals and runs passes as fast as the machine
//! goes. The log lives in the in-memory store, so no I/O can let time jump mid-decision.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::actors::executor::Executors;
use crate::actors::intake::Submit;
use crate::actors::journal::Journal;
use crate::actors::services::Services;
use crate::actors::submission::SubmitRequest;
use crate::actors::{Orchestrator, SystemConfig};
use crate::clock::{SharedClock, TokioClock};
use crate::grid::GridSignal;
use crate::ids::IdGen;
use crate::policy::Policy;
use crate::projections::ReadModel;
use crate::store::{EventStore, MemoryStore, Stamper};

/// Everything a virtual day needs besides its submissions.
pub struct DaySetup {
    /// Virtual time at the start.
    pub start: DateTime<Utc>,
    /// The grid.
    pub grid: GridSignal,
    /// The policy.
    pub policy: Policy,
    /// Pool sizes, tick, retries.
    pub system: SystemConfig,
    /// How jobs run.
    pub executors: Executors,
    /// Seeds the ids.
    pub seed: u64,
    /// Run on tokio's paused clock (virtual time). Turn off when jobs run real commands: a
    /// paused clock jumps ahead while a process runs, which would fire its timeout.
    pub virtual_clock: bool,
}

/// What a virtual day leaves behind.
pub struct DayRun {
    /// Every read model at the end.
    pub model: ReadModel,
    /// The event log.
    pub log: MemoryStore,
    /// Job ids in submission order; `None` where intake refused the submission.
    pub job_ids: Vec<Option<Uuid>>,
    /// Virtual time when the last job finished.
    pub end: DateTime<Utc>,
}

/// A virtual day could not run.
#[derive(Debug, thiserror::Error)]
pub enum DayError {
    /// The runtime could not start.
    #[error("cannot start the runtime")]
    Runtime(#[from] std::io::Error),
    /// The actor system stopped early.
    #[error("the actor system stopped: {0}")]
    Stopped(String),
}

/// Submits each job at its time and runs until every accepted job has finished; `progress` is
/// told (finished, total) now and then.
pub fn run_day(
    setup: DaySetup,
    submissions: Vec<(DateTime<Utc>, SubmitRequest)>,
    progress: impl Fn(u64, u64),
) -> Result<DayRun, DayError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(setup.virtual_clock)
        .build()?;
    let system = actix::System::with_tokio_rt(move || runtime);
    system.block_on(drive(setup, submissions, progress))
}

async fn drive(
    setup: DaySetup,
    submissions: Vec<(DateTime<Utc>, SubmitRequest)>,
    progress: impl Fn(u64, u64),
) -> Result<DayRun, DayError> {
    let clock: SharedClock = Arc::new(TokioClock::starting_at(setup.start));
    let log = MemoryStore::new(Stamper {
        clock: Arc::clone(&clock),
        ids: Arc::new(IdGen::seeded(setup.seed.wrapping_add(1))),
    });
    let journal = Journal::start(EventStore::Memory(log.clone()), ReadModel::default());
    let svc = Services {
        journal,
        clock: Arc::clone(&clock),
        ids: Arc::new(IdGen::seeded(setup.seed)),
        grid: Arc::new(setup.grid),
        policy: Arc::new(RwLock::new(Arc::new(setup.policy))),
    };
    // Checking for the end costs nothing on virtual time; on real time, check often.
    let poll = if setup.virtual_clock {
        Duration::from_secs(60)
    } else {
        Duration::from_millis(10)
    };
    let orchestrator = Orchestrator::start(svc.clone(), &setup.system, setup.executors).await;
    let total = submissions.len() as u64;
    let mut job_ids = Vec::with_capacity(submissions.len());
    for (i, (at, request)) in submissions.into_iter().enumerate() {
        let wait = (at - clock.now()).to_std().unwrap_or(Duration::ZERO);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let accepted = orchestrator
            .intake
            .send(Submit(request))
            .await
            .map_err(|e| DayError::Stopped(e.to_string()))?;
        job_ids.push(accepted.ok().map(|a| a.job_id));
        if i % 1000 == 0 {
            progress(finished(&svc), total);
        }
    }
    let accepted = job_ids.iter().flatten().count() as u64;
    let mut last_report = 0;
    loop {
        let done = finished(&svc);
        if done >= accepted {
            break;
        }
        if done >= last_report + 1000 {
            progress(done, total);
            last_report = done;
        }
        tokio::time::sleep(poll).await;
    }
    progress(total, total);
    let end = clock.now();
    let model = svc.journal.model().clone();
    Ok(DayRun {
        model,
        log,
        job_ids,
        end,
    })
}

fn finished(svc: &Services) -> u64 {
    let model = svc.journal.model();
    let c = &model.counters;
    [
        crate::projections::Status::Done,
        crate::projections::Status::Cancelled,
        crate::projections::Status::DeadLetter,
    ]
    .iter()
    .map(|s| c.status(*s))
    .sum()
}
