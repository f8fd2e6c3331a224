//! A worker actor: takes the oldest job from its pool's queue, records the start, runs it,
//! books its energy and emissions against the grid's actual intensity during the run (and what
//! it would have emitted had it started at submission), and records the outcome. A failed
//! attempt is retried with exponential backoff up to the configured attempts, then dead-lettered.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::TimeDelta;
use uuid::Uuid;

use super::executor::Executors;
use super::job_queue::{Enqueue, JobQueue, Take, TryTake};
use super::journal::JournalError;
use super::services::Services;
use crate::events::*;
use crate::projections::Status;

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
            ctx.spawn(run.run().into_actor(self).map(|(), _, ctx| ctx.stop()));
        }
    }
}

/// The worker's state, owned by its run loop.
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

impl RunLoop {
    async fn run(self) {
        let Some(other) = self.other.clone() else {
            while let Ok(Some(job)) = self.queue.send(Take).await {
                self.run_one(job).await;
            }
            return;
        };
        loop {
            let job = match self.queue.send(TryTake).await {
                Ok(Some(job)) => Some(job),
                Ok(None) => other.send(TryTake).await.ok().flatten(),
                Err(_) => return,
            };
            if let Some(job) = job {
                self.run_one(job).await;
                continue;
            }
            // Nothing anywhere: wait on our own queue; the other pool's queue offers its new
            // jobs to us while we wait.
            match self.queue.send(Take).await {
                Ok(Some(job)) => self.run_one(job).await,
                _ => return,
            }
        }
    }

    /// Appends, retrying while the store is away: an outcome must not be lost.
    async fn record(&self, job: Uuid, events: Vec<JobEvent>) -> Result<(), JournalError> {
        let mut wait = Duration::from_millis(100);
        loop {
            match self.svc.journal.append(job, events.clone(), job).await {
                Err(JournalError::Unavailable(e)) => {
                    tracing::warn!(%job, error = %e, "store away; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                other => return other.map(|_| ()),
            }
        }
    }

    async fn run_one(&self, job: Uuid) {
        let (spec, submitted_at, attempt) = {
            let model = self.svc.journal.model();
            let Some(view) = model.job(&job) else { return };
            if view.status != Status::Scheduled {
                return; // cancelled while queued
            }
            (
                view.submitted.clone(),
                view.created_at,
                view.lifecycle.attempts + 1,
            )
        };
        let started = JobEvent::Started(JobStarted {
            worker: self.name.clone(),
            attempt,
        });
        if let Err(e) = self.record(job, vec![started]).await {
            tracing::warn!(%job, error = %e, "start not recorded; skipping");
            return;
        }
        let start = self.svc.clock.now();
        let outcome = self.executors.run(job, attempt, &spec).await;
        let end = self.svc.clock.now();
        let events = match outcome {
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
                vec![JobEvent::Completed(JobCompleted {
                    attempt,
                    duration_ms: u64::try_from(run.num_milliseconds()).unwrap_or(0),
                    energy_kwh: power * hours / 1000.0,
                    emissions_kg,
                    baseline_emissions_kg: baseline_kg,
                    result,
                })]
            }
            Err(error) if attempt < self.retry.max_attempts => {
                let delay = self.retry.delay_after(attempt);
                let retry_at = end + TimeDelta::from_std(delay).unwrap_or(TimeDelta::zero());
                let failed = JobEvent::Failed(JobFailed {
                    attempt,
                    error,
                    will_retry: true,
                    retry_at: Some(retry_at),
                });
                if self.record(job, vec![failed]).await.is_ok() {
                    let queue = self.queue.clone();
                    let due = super::routing::due_time(&spec, retry_at);
                    actix::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = queue.send(Enqueue { job, due }).await;
                    });
                }
                return;
            }
            Err(error) => vec![
                JobEvent::Failed(JobFailed {
                    attempt,
                    error: error.clone(),
                    will_retry: false,
                    retry_at: None,
                }),
                JobEvent::DeadLettered(JobDeadLettered {
                    attempts: attempt,
                    reason: error,
                }),
            ],
        };
        if let Err(e) = self.record(job, events).await {
            tracing::error!(%job, pool = self.pool.as_str(), error = %e, "outcome not recorded");
        }
    }
}
