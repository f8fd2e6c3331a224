//! The actor system: intake, scheduler, one actor per queue and one per worker, exchanging typed
//! actix messages; every state change goes through the [`journal::Journal`] first.
//!
//! Invariant: no effect (a job entering a queue, a worker starting it) happens before its event
//! is in the log; on start the queues are rebuilt from the log, and jobs that were running when
//! the process died are retried as a new attempt.

pub mod deferred_queue;
pub mod executor;
pub mod intake;
pub mod job_queue;
pub mod journal;
pub mod retention;
pub mod routing;
pub mod scheduler;
pub mod services;
pub mod submission;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::events::{JobDeadLettered, JobEvent, JobFailed, Pool, ReleaseReason, Stage};
use crate::store::keys::QueueName;

use deferred_queue::{DeferredQueue, Hold};
use executor::Executors;
use intake::Intake;
use job_queue::{Enqueue, JobQueue};
use retention::{Retention, RetentionPolicy};
use routing::StartBy;
use scheduler::{PendingArrived, ReleaseMode, Scheduler};
use services::Services;
use worker::{RetryPolicy, RunDefaults, Worker};

/// How big the system is and how it behaves.
#[derive(Debug, Clone)]
pub struct SystemConfig {
    /// Workers on the FAST pool.
    pub fast_workers: usize,
    /// Workers on the ECO pool.
    pub eco_workers: usize,
    /// How much accepted work may wait before intake answers busy.
    pub limits: intake::Limits,
    /// How often deferred jobs are checked.
    pub tick: Duration,
    /// How deferred jobs are let go.
    pub release_mode: ReleaseMode,
    /// Attempts and backoff.
    pub retry: RetryPolicy,
    /// Defaults for jobs that give no power draw.
    pub defaults: RunDefaults,
    /// The `forecast` policy's capacity plan; `None` for the seed's rules.
    pub planning: Option<crate::planner::CapacityPlan>,
    /// How long finished jobs are kept in the log; `None`: for ever.
    pub retention: Option<RetentionPolicy>,
}

/// Runs one handler's work; a panic in it is logged (the panic hook counts it) and gives
/// `None`, so that the actor lives on instead of its task dying with it, and the caller rebuilds
/// what the actor holds from the journal.
pub(crate) fn contained<T>(actor: &str, work: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(value) => Some(value),
        Err(panic) => {
            tracing::error!(
                actor,
                panic = %crate::telemetry::panic_message(&*panic),
                "a handler panicked; the actor rebuilds its state from the log"
            );
            None
        }
    }
}

/// What an actor should hold according to the journal's model, to start again from after a
/// panic in one of its handlers.
pub type Source<T> = Arc<dyn Fn() -> Vec<T> + Send + Sync>;

/// What `source` says `actor` holds; nothing without a source, or if asking it panics too.
pub(crate) fn refill<T>(actor: &str, source: Option<&Source<T>>) -> Vec<T> {
    source
        .and_then(|source| contained(actor, || source()))
        .unwrap_or_default()
}

/// What a queue holds according to the journal's model: jobs routed to no pool yet (`PENDING`),
/// or waiting for a worker of `pool`.
fn queued_in(svc: &Services, pool: Option<Pool>) -> Vec<(uuid::Uuid, StartBy)> {
    let model = svc.journal.model();
    model
        .index_order()
        .into_iter()
        .filter_map(|(_, id)| model.job(&id))
        .filter_map(|v| match (v.lifecycle.stage, pool) {
            (Stage::Queued, None) => Some((v.job_id, StartBy::soft(v.created_at))),
            (Stage::Waiting(p), Some(q)) if p == q => {
                Some((v.job_id, routing::due_time(&v.submitted, v.created_at)))
            }
            _ => None,
        })
        .collect()
}

/// The held jobs according to the journal's model, with when and why each is let go.
fn held_in(svc: &Services) -> Vec<Hold> {
    let now = svc.clock.now();
    let model = svc.journal.model();
    model
        .index_order()
        .into_iter()
        .filter_map(|(_, id)| model.job(&id))
        .filter(|v| v.lifecycle.stage == Stage::Deferred)
        .map(|v| {
            let (release_at, reason) = hold_of(v, now);
            Hold {
                job: v.job_id,
                release_at,
                reason,
            }
        })
        .collect()
}

/// When and why a held job is let go, from what the log says of it.
fn hold_of(
    v: &crate::projections::JobView,
    now: chrono::DateTime<chrono::Utc>,
) -> (chrono::DateTime<chrono::Utc>, ReleaseReason) {
    match v.defer_deadline {
        Some(deadline) => {
            let at_deadline = routing::deadline_reason(&v.submitted, deadline);
            routing::release_of(v.planned_release, deadline, at_deadline)
        }
        None => (now, ReleaseReason::MaxDeferral),
    }
}

/// Addresses of the running actors.
#[derive(Clone)]
pub struct Orchestrator {
    /// Shared services.
    pub svc: Services,
    /// The intake.
    pub intake: Addr<Intake>,
    /// The scheduler.
    pub scheduler: Addr<Scheduler>,
    /// `PENDING`, `FAST`, `ECO`.
    pub queues: [Addr<JobQueue>; 3],
    /// `DEFERRED`.
    pub deferred: Addr<DeferredQueue>,
    /// Every worker.
    pub workers: Vec<Addr<Worker>>,
    /// Retires finished jobs, when they are not kept for ever.
    pub retention: Option<Addr<Retention>>,
}

impl Orchestrator {
    /// Starts every actor on the current actix system, then puts every unfinished job of the
    /// journal's model back where it belongs.
    pub async fn start(svc: Services, config: &SystemConfig, executors: Executors) -> Orchestrator {
        let big = usize::MAX / 2;
        let queue = |name, pool: Option<Pool>| {
            let svc = svc.clone();
            JobQueue::new(name, big)
                .rebuilt_by(Arc::new(move || queued_in(&svc, pool)))
                .start()
        };
        let pending = queue(QueueName::Pending, None);
        let fast = queue(QueueName::Fast, Some(Pool::Fast));
        let eco = queue(QueueName::Eco, Some(Pool::Eco));
        fast.do_send(job_queue::SetSibling(eco.clone()));
        eco.do_send(job_queue::SetSibling(fast.clone()));
        let deferred = {
            let svc = svc.clone();
            DeferredQueue::rebuilt_by(Arc::new(move || held_in(&svc))).start()
        };
        let mut scheduler = Scheduler::new(
            svc.clone(),
            [pending.clone(), fast.clone(), eco.clone()],
            deferred.clone(),
            config.tick,
            config.release_mode,
        );
        if let Some(plan) = &config.planning {
            scheduler = scheduler.with_planning(plan.clone());
        }
        let scheduler = scheduler.start();
        let intake = Intake::new(
            svc.clone(),
            pending.clone(),
            [fast.clone(), eco.clone()],
            deferred.clone(),
            scheduler.clone(),
            config.limits,
        )
        .start();
        let executors = Arc::new(executors);
        let mut workers = Vec::new();
        for (pool, n, queue, other) in [
            (Pool::Fast, config.fast_workers, &fast, &eco),
            (Pool::Eco, config.eco_workers, &eco, &fast),
        ] {
            for i in 0..n {
                let name = format!("{}-{i}", pool.as_str().to_lowercase());
                workers.push(
                    Worker::new(
                        name,
                        pool,
                        queue.clone(),
                        svc.clone(),
                        Arc::clone(&executors),
                        config.retry,
                        config.defaults,
                    )
                    .helping(other.clone())
                    .start(),
                );
            }
        }
        let retention = config
            .retention
            .map(|policy| Retention::new(svc.clone(), policy).start());
        let orchestrator = Orchestrator {
            svc,
            intake,
            scheduler,
            queues: [pending, fast, eco],
            deferred,
            workers,
            retention,
        };
        orchestrator.recover(config.retry).await;
        orchestrator
    }

    /// Puts unfinished jobs back: queued ones to `PENDING`, deferred ones on hold, waiting ones
    /// on their pool, running ones (their worker died with the process) failed and retried.
    async fn recover(&self, retry: RetryPolicy) {
        let now = self.svc.clock.now();
        let jobs: Vec<_> = {
            let model = self.svc.journal.model();
            model
                .index_order()
                .into_iter()
                .filter_map(|(_, id)| model.job(&id))
                .filter(|v| !v.status.is_terminal())
                .map(|v| {
                    let hold = hold_of(v, now);
                    let due = routing::due_time(&v.submitted, v.created_at);
                    (v.job_id, v.lifecycle, hold, due)
                })
                .collect()
        };
        let [pending, fast, eco] = &self.queues;
        let pool_queue = |p: Pool| if p == Pool::Fast { fast } else { eco };
        let mut recovered = 0usize;
        for (job, life, hold, due) in jobs {
            recovered += 1;
            match life.stage {
                Stage::Queued => {
                    let _ = pending.send(Enqueue { job, due }).await;
                    self.scheduler.do_send(PendingArrived);
                }
                Stage::Deferred => {
                    let (release_at, reason) = hold;
                    let _ = self
                        .deferred
                        .send(Hold {
                            job,
                            release_at,
                            reason,
                        })
                        .await;
                }
                Stage::Waiting(pool) => {
                    let _ = pool_queue(pool).send(Enqueue { job, due }).await;
                }
                Stage::Running(pool) => {
                    let error = "worker lost: carbonq stopped while the job ran".to_owned();
                    let retry_left = life.attempts < retry.max_attempts;
                    let mut events = vec![JobEvent::Failed(JobFailed {
                        attempt: life.attempts,
                        error: error.clone(),
                        will_retry: retry_left,
                        retry_at: None,
                        detail: None,
                    })];
                    if !retry_left {
                        events.push(JobEvent::DeadLettered(JobDeadLettered {
                            attempts: life.attempts,
                            reason: error,
                        }));
                    }
                    match self.svc.journal.append(job, events, job).await {
                        Ok(_) if retry_left => {
                            let _ = pool_queue(pool).send(Enqueue { job, due }).await;
                        }
                        Ok(_) => {}
                        Err(e) => tracing::error!(%job, error = %e, "cannot record lost run"),
                    }
                }
                Stage::Failing => {
                    let events = vec![JobEvent::DeadLettered(JobDeadLettered {
                        attempts: life.attempts,
                        reason: "out of attempts".into(),
                    })];
                    if let Err(e) = self.svc.journal.append(job, events, job).await {
                        tracing::error!(%job, error = %e, "cannot dead-letter");
                    }
                }
                _ => recovered -= 1,
            }
        }
        if recovered > 0 {
            tracing::info!(recovered, "unfinished jobs put back from the log");
        }
    }
}
