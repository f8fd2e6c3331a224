//! A worker actor: takes the oldest job from its pool's queue, records the start, runs it,
//! books its energy and emissions against the grid's actual intensity during the run (and what
//! it would have emitted had it started at submission), and records the outcome. A failed
//! attempt is retried with exponential backoff up to the configured attempts, then dead-lettered.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use futures::FutureExt;
use uuid::Uuid;

use super::executor::{Executors, Failure};
use super::job_queue::{Enqueue, JobQueue, Take, TakeUrgent, TryTake};
use super::journal::{JobAppend, JournalError};
use super::routing::{StartBy, URGENT_WITHIN};
use super::services::Services;
use crate::events::*;
use crate::projections::Status;
use crate::telemetry::panic_message;

/// Attempts and backoff.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts before dead-lettering (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles each time.
    pub backoff: Duration,
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        self.backoff * 2u32.saturating_pow(attempt.saturating_sub(1)).min(1 << 16)
    }
}

/// Defaults for jobs that give no power draw or duration.
#[derive(Debug, Clone, Copy)]
pub struct RunDefaults {
    /// Watts.
    pub power_w: f64,
}

/// One worker of one pool. When its pool's queue is empty it helps the other pool (see
/// [`super::job_queue`]), so a busy pool never queues while the other idles.
pub struct Worker {
    /// Moved into the actor's run loop when it starts.
    run: Option<RunLoop>,
}

impl Worker {
    /// A worker named `name` taking jobs from `queue`.
    pub fn new(
        name: String,
        pool: Pool,
        queue: Addr<JobQueue>,
        svc: Services,
        executors: Arc<Executors>,
        retry: RetryPolicy,
        defaults: RunDefaults,
    ) -> Self {
        Worker {
            run: Some(RunLoop {
                name,
                pool,
                queue,
                other: None,
                svc,
                executors,
                retry,
                defaults,
            }),
        }
    }

    /// Also takes jobs from `other` when its own queue is empty.
    pub fn helping(mut self, other: Addr<JobQueue>) -> Self {
        if let Some(run) = &mut self.run {
            run.other = Some(other);
        }
        self
    }
}

impl Actor for Worker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(run) = self.run.take() {
            ctx.spawn(
                run.supervised()
                    .into_actor(self)
                    .map(|(), _, ctx| ctx.stop()),
            );
        }
    }
}

/// The worker's state, owned by its run loop.
#[derive(Clone)]
struct RunLoop {
    name: String,
    pool: Pool,
    queue: Addr<JobQueue>,
    other: Option<Addr<JobQueue>>,
    svc: Services,
    executors: Arc<Executors>,
    retry: RetryPolicy,
    defaults: RunDefaults,
}

/// A finished attempt's events, waiting to be appended together with the next job's start.
struct Outcome {
    job: Uuid,
    events: Vec<JobEvent>,
    /// For a failed attempt that will be retried: the wait, and the retry's due time in the
    /// queue.
    retry: Option<(Duration, StartBy)>,
}

impl RunLoop {
    /// Takes a job without waiting: the most urgent job with a deadline in its own queue, then
    /// in the other pool's, then its own queue's head, then the other's; `None` if there is none,
    /// `Err` once the queues are gone.
    async fn try_take(&self) -> Result<Option<Uuid>, ()> {
        let by = self.svc.clock.now() + URGENT_WITHIN;
        if let Some(job) = self.queue.send(TakeUrgent(by)).await.map_err(|_| ())? {
            return Ok(Some(job));
        }
        if let Some(other) = &self.other {
            if let Ok(Some(job)) = other.send(TakeUrgent(by)).await {
                return Ok(Some(job));
            }
        }
        match self.queue.send(TryTake).await {
            Ok(Some(job)) => Ok(Some(job)),
            Ok(None) => match &self.other {
                Some(other) => Ok(other.send(TryTake).await.ok().flatten()),
                None => Ok(None),
            },
            Err(_) => Err(()),
        }
    }

    /// Runs jobs until the queues close; a panic outside a job's run (which fails just that
    /// attempt) starts the loop afresh a second later, so the pool keeps its worker.
    async fn supervised(self) {
        loop {
            match AssertUnwindSafe(self.clone().run()).catch_unwind().await {
                Ok(()) => return,
                Err(panic) => {
                    tracing::error!(
                        worker = %self.name,
                        panic = %panic_message(&*panic),
                        "worker loop panicked; restarting it"
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Runs jobs until the queues close. A finished job's outcome is appended in the same store
    /// call as the next job's start (one commit per job, not two, as BullMQ's `moveToFinished`
    /// also fetches the next job); when no job is waiting, the outcome is appended at once,
    /// before the worker waits.
    async fn run(self) {
        let mut outcome: Option<Outcome> = None;
        loop {
            let job = match self.try_take().await {
                Ok(Some(job)) => job,
                Ok(None) => {
                    if let Some(o) = outcome.take() {
                        self.settle(Some(o), None).await;
                    }
                    // Nothing anywhere: wait on our own queue; the other pool's queue offers its
                    // new jobs to us while we wait.
                    match self.queue.send(Take).await {
                        Ok(Some(job)) => job,
                        _ => return,
                    }
                }
                Err(()) => break,
            };
            let Some(attempt) = self.attempt_of(job) else {
                continue; // cancelled while queued
            };
            let started = JobEvent::Started(JobStarted {
                worker: self.name.clone(),
                attempt: attempt.number,
            });
            if self.settle(outcome.take(), Some((job, started))).await {
                outcome = Some(self.execute(job, attempt).await);
            }
        }
        if let Some(o) = outcome {
            self.settle(Some(o), None).await;
        }
    }

    /// Appends, in one store call, retrying while the store is away: an outcome must not be lost.
    async fn record(&self, appends: Vec<JobAppend>) -> Vec<Result<(), JournalError>> {
        let results = self.svc.journal.append_all_patiently(appends).await;
        results.into_iter().map(|r| r.map(|_| ())).collect()
    }

    /// Appends a finished attempt's outcome and the next job's start together; whether the
    /// start is in the log (the job may run).
    async fn settle(&self, outcome: Option<Outcome>, start: Option<(Uuid, JobEvent)>) -> bool {
        let finished = outcome.as_ref().map(|o| (o.job, o.retry));
        let starting = start.as_ref().map(|(job, _)| *job);
        let appends: Vec<JobAppend> = outcome
            .map(|o| (o.job, o.events))
            .into_iter()
            .chain(start.map(|(job, e)| (job, vec![e])))
            .map(|(job_id, events)| JobAppend {
                job_id,
                events,
                correlation_id: job_id,
                replaces: Vec::new(),
            })
            .collect();
        let mut results = self.record(appends).await.into_iter();
        if let Some((job, retry)) = finished {
            match results.next() {
                Some(Ok(())) => {
                    if let Some((delay, due)) = retry {
                        self.requeue_after(job, delay, due);
                    }
                }
                Some(Err(e)) => {
                    tracing::error!(%job, pool = self.pool.as_str(), error = %e, "outcome not recorded")
                }
                None => {}
            }
        }
        match (starting, results.next()) {
            (Some(_), Some(Ok(()))) => true,
            (Some(job), Some(Err(e))) => {
                tracing::warn!(%job, error = %e, "start not recorded; skipping");
                false
            }
            _ => false,
        }
    }

    /// Puts `job` back in the queue after `delay`.
    fn requeue_after(&self, job: Uuid, delay: Duration, due: StartBy) {
        let queue = self.queue.clone();
        actix::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = queue.send(Enqueue { job, due }).await;
        });
    }

    /// What the next attempt of `job` needs, or `None` if it is no longer waiting to run.
    fn attempt_of(&self, job: Uuid) -> Option<Attempt> {
        let model = self.svc.journal.model();
        let view = model.job(&job)?;
        if view.status != Status::Scheduled {
            return None; // cancelled while queued
        }
        Some(Attempt {
            spec: view.submitted.clone(),
            submitted_at: view.created_at,
            number: view.lifecycle.attempts + 1,
        })
    }

    /// Runs one attempt (its start is in the log) and books it.
    async fn execute(&self, job: Uuid, attempt: Attempt) -> Outcome {
        let Attempt {
            spec,
            submitted_at,
            number: attempt,
        } = attempt;
        let start = self.svc.clock.now();
        // A panic while running one job fails that attempt, not the worker.
        let outcome = AssertUnwindSafe(self.executors.run(job, attempt, &spec))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(Failure::coded("internal_error", panic_message(&*panic))));
        if let Err(Failure {
            error,
            detail: Some(detail),
        }) = &outcome
        {
            tracing::error!(%job, attempt, %error, %detail, "attempt failed");
        }
        let end = self.svc.clock.now();
        let (events, retry) = match outcome {
            Ok(result) => {
                let power = spec.power_w.unwrap_or(self.defaults.power_w);
                let run = end - start;
                let hours = run.num_milliseconds() as f64 / 3_600_000.0;
                let emissions_kg = self.svc.grid.emissions_g(power, start, end) / 1000.0;
                let baseline_kg =
                    self.svc
                        .grid
                        .emissions_g(power, submitted_at, submitted_at + run)
                        / 1000.0;
                let completed = JobEvent::Completed(JobCompleted {
                    attempt,
                    duration_ms: u64::try_from(run.num_milliseconds()).unwrap_or(0),
                    energy_kwh: power * hours / 1000.0,
                    emissions_kg,
                    baseline_emissions_kg: baseline_kg,
                    result,
                });
                (vec![completed], None)
            }
            Err(Failure { error, detail }) if attempt < self.retry.max_attempts => {
                let delay = self.retry.delay_after(attempt);
                let retry_at = end + TimeDelta::from_std(delay).unwrap_or(TimeDelta::zero());
                let failed = JobEvent::Failed(JobFailed {
                    attempt,
                    error,
                    will_retry: true,
                    retry_at: Some(retry_at),
                    detail,
                });
                let due = super::routing::due_time(&spec, retry_at);
                (vec![failed], Some((delay, due)))
            }
            Err(Failure { error, detail }) => (
                vec![
                    JobEvent::Failed(JobFailed {
                        attempt,
                        error: error.clone(),
                        will_retry: false,
                        retry_at: None,
                        detail,
                    }),
                    JobEvent::DeadLettered(JobDeadLettered {
                        attempts: attempt,
                        reason: error,
                    }),
                ],
                None,
            ),
        };
        Outcome { job, events, retry }
    }
}

/// A job about to run: what it is, when it was submitted, and which attempt this is.
struct Attempt {
    spec: JobSubmitted,
    submitted_at: DateTime<Utc>,
    number: u32,
}
