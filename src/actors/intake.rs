//! The intake actor: validates a submission, returns the first job for a repeated idempotency
//! key, appends `JobSubmitted`, and hands the job to `PENDING`. It answers only after the event
//! is in the log; a full `PENDING` queue answers busy instead of growing.

use std::collections::HashMap;

use actix::prelude::*;
use futures::future::{BoxFuture, FutureExt, Shared};
use uuid::Uuid;

use super::deferred_queue::{DeferredQueue, Unhold};
use super::job_queue::{Depth, Enqueue, JobQueue, Withdraw};
use super::journal::JournalError;
use super::scheduler::{PendingArrived, Scheduler};
use super::services::Services;
use super::submission::{validate, Invalid, SubmitRequest};
use crate::events::{JobCancelled, JobEvent};
use crate::projections::Status;

/// A job the intake accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// Its id.
    pub job_id: Uuid,
    /// Its status now.
    pub status: Status,
    /// Whether an earlier submission with the same idempotency key created it.
    pub duplicate: bool,
}

/// Why the intake did not accept (or cancel) a job.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// The submission is invalid.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Too much work is waiting; try later.
    #[error("{0}")]
    Busy(String),
    /// The event store is unreachable; nothing was stored.
    #[error("{0}")]
    Unavailable(String),
    /// No such job.
    #[error("job {0} not found")]
    NotFound(Uuid),
    /// The job can no longer be cancelled.
    #[error("job {0} has already started or finished")]
    NotCancellable(Uuid),
    /// Something else failed; nothing was stored.
    #[error("{0}")]
    Internal(String),
}

impl From<JournalError> for Rejection {
    fn from(e: JournalError) -> Self {
        match e {
            JournalError::Unavailable(m) => Rejection::Unavailable(m),
            other => Rejection::Internal(other.to_string()),
        }
    }
}

type InFlight = Shared<BoxFuture<'static, Result<Accepted, Rejection>>>;

/// The intake.
pub struct Intake {
    svc: Services,
    pending: Addr<JobQueue>,
    pools: [Addr<JobQueue>; 2],
    deferred: Addr<DeferredQueue>,
    scheduler: Addr<Scheduler>,
    max_pending: usize,
    in_flight: HashMap<String, InFlight>,
    /// Submissions accepted by this actor but not yet answered: they count against
    /// `max_pending` too, so concurrent requests cannot all pass the check at once.
    submitting: usize,
}

impl Intake {
    /// An intake feeding `pending` and `scheduler`.
    pub fn new(
        svc: Services,
        pending: Addr<JobQueue>,
        pools: [Addr<JobQueue>; 2],
        deferred: Addr<DeferredQueue>,
        scheduler: Addr<Scheduler>,
        max_pending: usize,
    ) -> Self {
        Intake {
            svc,
            pending,
            pools,
            deferred,
            scheduler,
            max_pending,
            in_flight: HashMap::new(),
            submitting: 0,
        }
    }
}

impl Actor for Intake {
    type Context = Context<Self>;
}

/// Submit a job.
#[derive(Message)]
#[rtype(result = "Result<Accepted, Rejection>")]
pub struct Submit(pub SubmitRequest);

/// Cancel a job that has not started.
#[derive(Message)]
#[rtype(result = "Result<Status, Rejection>")]
pub struct Cancel(pub Uuid);

impl Handler<Submit> for Intake {
    type Result = ResponseActFuture<Self, Result<Accepted, Rejection>>;

    fn handle(&mut self, Submit(req): Submit, _: &mut Context<Self>) -> Self::Result {
        let now = self.svc.clock.now();
        let submitted = match validate(req, now) {
            Ok(s) => s,
            Err(e) => return Box::pin(fut::ready(Err(e.into()))),
        };
        let key = submitted.idempotency_key.clone();
        if let Some(k) = &key {
            let first = {
                let model = self.svc.journal.model();
                model
                    .idempotency
                    .get(k)
                    .and_then(|id| model.job(id))
                    .map(|v| (v.job_id, v.status))
            };
            if let Some((job_id, status)) = first {
                return Box::pin(fut::ready(Ok(Accepted {
                    job_id,
                    status,
                    duplicate: true,
                })));
            }
            if let Some(running) = self.in_flight.get(k) {
                let running = running.clone();
                return Box::pin(
                    async move {
                        running.await.map(|a| Accepted {
                            duplicate: true,
                            ..a
                        })
                    }
                    .into_actor(self),
                );
            }
        }
        let job_id = self.svc.ids.next(now);
        let (svc, pending, scheduler, max) = (
            self.svc.clone(),
            self.pending.clone(),
            self.scheduler.clone(),
            self.max_pending,
        );
        let ahead = self.submitting;
        self.submitting += 1;
        let work: InFlight = async move {
            if pending.send(Depth).await.unwrap_or(0) + ahead >= max {
                return Err(Rejection::Busy(format!(
                    "{max} jobs are waiting to be scheduled; retry later"
                )));
            }
            svc.journal
                .append(job_id, vec![JobEvent::Submitted(submitted)], job_id)
                .await?;
            if pending
                .send(Enqueue {
                    job: job_id,
                    due: now,
                })
                .await
                .is_ok()
            {
                scheduler.do_send(PendingArrived);
            }
            Ok(Accepted {
                job_id,
                status: Status::Queued,
                duplicate: false,
            })
        }
        .boxed()
        .shared();
        if let Some(k) = &key {
            self.in_flight.insert(k.clone(), work.clone());
        }
        Box::pin(work.into_actor(self).map(move |result, act, _| {
            act.submitting -= 1;
            if let Some(k) = key {
                act.in_flight.remove(&k);
            }
            result
        }))
    }
}

impl Handler<Cancel> for Intake {
    type Result = ResponseFuture<Result<Status, Rejection>>;

    fn handle(&mut self, Cancel(job): Cancel, _: &mut Context<Self>) -> Self::Result {
        let svc = self.svc.clone();
        let queues = [
            self.pending.clone(),
            self.pools[0].clone(),
            self.pools[1].clone(),
        ];
        let deferred = self.deferred.clone();
        Box::pin(async move {
            let status = svc.journal.model().job(&job).map(|v| v.status);
            match status {
                None => return Err(Rejection::NotFound(job)),
                Some(Status::Cancelled) => return Ok(Status::Cancelled),
                Some(_) => {}
            }
            let cancelled = JobEvent::Cancelled(JobCancelled {
                reason: "cancelled by client".into(),
            });
            match svc.journal.append(job, vec![cancelled], job).await {
                Ok(_) => {}
                Err(JournalError::Illegal(_)) => return Err(Rejection::NotCancellable(job)),
                Err(e) => return Err(e.into()),
            }
            for q in queues {
                let _ = q.send(Withdraw(job)).await;
            }
            let _ = deferred.send(Unhold(job)).await;
            Ok(Status::Cancelled)
        })
    }
}
