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
use crate::projections::runner::fold_log;
use crate::projections::ReadModel;
use crate::store::{Bound, EventStore, MemoryStore, Stamper};

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
    /// Kill the process at this time, every actor and task with it, and start a new one on the
    /// same log at once, as a supervisor restarts `serve`: it folds the log and puts every
    /// unfinished job back where it belongs.
    pub crash_at: Option<DateTime<Utc>>,
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
    mut submissions: Vec<(DateTime<Utc>, SubmitRequest)>,
    progress: impl Fn(u64, u64),
) -> Result<DayRun, DayError> {
    let clock = Arc::new(ProcessClock::default());
    let shared: SharedClock = clock.clone();
    let process = Process {
        log: MemoryStore::new(Stamper {
            clock: Arc::clone(&shared),
            ids: Arc::new(IdGen::seeded(setup.seed.wrapping_add(1))),
        }),
        ids: Arc::new(IdGen::seeded(setup.seed)),
        clock,
        total: submissions.len() as u64,
    };
    let mut job_ids = Vec::with_capacity(submissions.len());
    let mut start = setup.start;
    if let Some(crash) = setup.crash_at {
        let later = submissions.split_off(submissions.partition_point(|(at, _)| *at < crash));
        let system = actix::System::with_tokio_rt(runtime(setup.virtual_clock)?);
        let first =
            system.block_on(process.run(&setup, start, submissions, Some(crash), &progress));
        // The crash: the runtime goes with every actor and task of the first process.
        drop(system);
        job_ids = first?.job_ids;
        submissions = later;
        start = crash;
    }
    let system = actix::System::with_tokio_rt(runtime(setup.virtual_clock)?);
    let mut run = system.block_on(process.run(&setup, start, submissions, None, &progress))?;
    job_ids.append(&mut run.job_ids);
    run.job_ids = job_ids;
    Ok(run)
}

/// A current-thread runtime, paused for virtual time.
fn runtime(
    virtual_clock: bool,
) -> Result<impl FnOnce() -> tokio::runtime::Runtime, std::io::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(virtual_clock)
        .build()?;
    Ok(move || runtime)
}

/// The clock of the process now running: each process (each runtime) has its own tokio clock.
#[derive(Debug, Default)]
struct ProcessClock(RwLock<Option<TokioClock>>);

impl ProcessClock {
    /// The running process's clock reads `start` now.
    fn restart_at(&self, start: DateTime<Utc>) {
        if let Ok(mut clock) = self.0.write() {
            *clock = Some(TokioClock::starting_at(start));
        }
    }
}

impl crate::clock::Clock for ProcessClock {
    fn now(&self) -> DateTime<Utc> {
        match self.0.read().ok().and_then(|c| c.as_ref().map(|c| c.now())) {
            Some(t) => t,
            None => DateTime::<Utc>::MIN_UTC,
        }
    }
}

/// What outlives a process: the log, the id generator, the clock.
struct Process {
    log: MemoryStore,
    ids: Arc<IdGen>,
    clock: Arc<ProcessClock>,
    total: u64,
}

impl Process {
    /// One process from `start`: folds the log, starts the actors (which put unfinished jobs
    /// back), submits `submissions`, and runs until `stop` or, without one, until every job in
    /// the log has finished.
    async fn run(
        &self,
        setup: &DaySetup,
        start: DateTime<Utc>,
        submissions: Vec<(DateTime<Utc>, SubmitRequest)>,
        stop: Option<DateTime<Utc>>,
        progress: &impl Fn(u64, u64),
    ) -> Result<DayRun, DayError> {
        self.clock.restart_at(start);
        let clock: SharedClock = self.clock.clone();
        let store = EventStore::Memory(self.log.clone());
        let (model, _) = fold_log(&store, Bound::Open, Bound::Open, None, |_| {})
            .await
            .map_err(|e| DayError::Stopped(e.to_string()))?;
        let journal = Journal::start(store, model);
        let svc = Services {
            journal,
            clock: Arc::clone(&clock),
            ids: Arc::clone(&self.ids),
            grid: Arc::new(setup.grid.clone()),
            policy: Arc::new(RwLock::new(Arc::new(setup.policy.clone()))),
        };
        // Checking for the end costs nothing on virtual time; on real time, check often.
        let poll = if setup.virtual_clock {
            Duration::from_secs(60)
        } else {
            Duration::from_millis(10)
        };
        let orchestrator =
            Orchestrator::start(svc.clone(), &setup.system, setup.executors.clone()).await;
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
                progress(finished(&svc), self.total);
            }
        }
        if let Some(stop) = stop {
            tokio::time::sleep((stop - clock.now()).to_std().unwrap_or(Duration::ZERO)).await;
        } else {
            let mut last_report = 0;
            loop {
                let done = finished(&svc);
                if done >= svc.journal.model().jobs.len() as u64 {
                    break;
                }
                if done >= last_report + 1000 {
                    progress(done, self.total);
                    last_report = done;
                }
                tokio::time::sleep(poll).await;
            }
            progress(self.total, self.total);
        }
        let end = clock.now();
        let model = svc.journal.model().clone();
        Ok(DayRun {
            model,
            log: self.log.clone(),
            job_ids,
            end,
        })
    }
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
