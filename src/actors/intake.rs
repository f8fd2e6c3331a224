//! The intake actor: validates a submission, returns the first job for a repeated idempotency
//! key, appends `JobSubmitted`, and hands the job to `PENDING`. It answers only after the event
//! is in the log; too much work waiting (in `PENDING`, or anywhere before it starts: see
//! [`Limits`]) answers busy instead of growing.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, FutureExt, Shared};
use uuid::Uuid;

use super::deferred_queue::{DeferredQueue, Unhold};
use super::job_queue::{Depth, Enqueue, JobQueue, Withdraw};
use super::journal::{JobAppend, JournalError};
use super::routing::StartBy;
use super::scheduler::{PendingArrived, Scheduler};
use super::services::Services;
use super::submission::{validate, Invalid, SubmitRequest};
use crate::events::{JobCancelled, JobEvent};
use crate::projections::Status;
use crate::store::Patience;
use crate::telemetry::panic_message;

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

impl Accepted {
    /// A job this submission created: queued, not a duplicate.
    fn new(job_id: Uuid) -> Self {
        Accepted {
            job_id,
            status: Status::Queued,
            duplicate: false,
        }
    }
}

/// How much accepted work may wait before the intake answers busy: neither bound is ever
/// passed, counting the submissions still being stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Jobs waiting in `PENDING` to be routed.
    pub max_pending: usize,
    /// Jobs accepted and not yet started, wherever they wait: `PENDING`, `FAST`, `ECO` or
    /// `DEFERRED`. Routing moves a job on at once, so without this bound slow workers would let
    /// `FAST` and `ECO` (and held jobs `DEFERRED`) grow without end.
    pub max_waiting: usize,
}

impl Limits {
    /// No bound that a run could reach (a simulated day submits its whole workload at once).
    pub const NONE: Limits = Limits {
        max_pending: usize::MAX / 2,
        max_waiting: usize::MAX / 2,
    };
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

/// The check of submissions whose commit failed as Redis went away (see [`settle_uncertain`]);
/// it ends once the intake has forgotten their keys.
type Settling = Shared<BoxFuture<'static, ()>>;

/// How long a submission waits for the check of an earlier one with its idempotency key before
/// it is answered unavailable.
const SETTLE_WAIT: Duration = Duration::from_secs(2);

/// The intake.
pub struct Intake {
    svc: Services,
    pending: Addr<JobQueue>,
    pools: [Addr<JobQueue>; 2],
    deferred: Addr<DeferredQueue>,
    scheduler: Addr<Scheduler>,
    limits: Limits,
    in_flight: HashMap<String, InFlight>,
    /// Keys of submissions that may or may not be stored, while that is being checked: a
    /// submission with one of them waits for the check, then is admitted afresh.
    unsettled: HashMap<String, Settling>,
    /// Submissions accepted by this actor but not yet answered: they count against both
    /// [`Limits`] too, so concurrent requests cannot all pass the checks at once.
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
        limits: Limits,
    ) -> Self {
        Intake {
            svc,
            pending,
            pools,
            deferred,
            scheduler,
            limits,
            in_flight: HashMap::new(),
            unsettled: HashMap::new(),
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

/// Submit several jobs at once: all are validated before any is appended, and the new ones are
/// appended together in one store call. Answers one [`Accepted`] per job, in order.
#[derive(Message)]
#[rtype(result = "Result<Vec<Accepted>, Rejection>")]
pub struct SubmitBatch(pub Vec<SubmitRequest>);

/// Cancel a job that has not started.
#[derive(Message)]
#[rtype(result = "Result<Status, Rejection>")]
pub struct Cancel(pub Uuid);

/// Where one job of a submission gets its answer.
enum Answer {
    /// Known already: a repeated idempotency key.
    Ready(Accepted),
    /// An earlier submission with its key is still being appended.
    Await(InFlight),
    /// The same key as job `0` of this submission.
    SameAs(usize),
    /// New: its place among the appends.
    New(usize),
}

/// A plain future, not an actor future: actix polls every actor future of a context each time
/// the context wakes, so one per request in flight would cost O(requests²). Bookkeeping comes
/// back as a [`Settled`] message instead.
type Admitted = ResponseFuture<Result<Vec<Accepted>, Rejection>>;

/// A submission has its answer: it no longer counts against the limit, and its keys are free.
#[derive(Message)]
#[rtype(result = "()")]
struct Settled {
    count: usize,
    keys: Vec<String>,
}

impl Handler<Settled> for Intake {
    type Result = ();

    fn handle(&mut self, Settled { count, keys }: Settled, _: &mut Context<Self>) {
        self.submitting -= count;
        for k in keys {
            self.in_flight.remove(&k);
        }
    }
}

/// The submissions under `keys` may have been stored: admit none with these keys until
/// `settling` ends.
#[derive(Message)]
#[rtype(result = "()")]
struct Unsettled {
    keys: Vec<String>,
    settling: Settling,
}

impl Handler<Unsettled> for Intake {
    type Result = ();

    fn handle(&mut self, Unsettled { keys, settling }: Unsettled, _: &mut Context<Self>) {
        for k in keys {
            self.unsettled.insert(k, settling.clone());
        }
    }
}

/// The check of the submissions under these keys is over: the model knows the stored ones.
#[derive(Message)]
#[rtype(result = "()")]
struct Checked(Vec<String>);

impl Handler<Checked> for Intake {
    type Result = ();

    fn handle(&mut self, Checked(keys): Checked, _: &mut Context<Self>) {
        for k in keys {
            self.unsettled.remove(&k);
        }
    }
}

/// Admit requests that waited for the check of an earlier submission with one of their keys.
#[derive(Message)]
#[rtype(result = "Result<Vec<Accepted>, Rejection>")]
struct Readmit {
    requests: Vec<SubmitRequest>,
    batch: bool,
}

impl Handler<Readmit> for Intake {
    type Result = Admitted;

    fn handle(
        &mut self,
        Readmit { requests, batch }: Readmit,
        ctx: &mut Context<Self>,
    ) -> Admitted {
        self.admit_contained(requests, batch, ctx)
    }
}

impl Intake {
    /// Validates `requests` (all before any is appended), answers repeated idempotency keys
    /// with their first job, and appends the new jobs' `JobSubmitted` in one journal call.
    /// `batch`: the requests came as a batch (errors name the job's index).
    fn admit(
        &mut self,
        requests: Vec<SubmitRequest>,
        batch: bool,
        ctx: &mut Context<Self>,
    ) -> Admitted {
        if let Some(waiting) = self.wait_for_checks(&requests, batch, ctx) {
            return waiting;
        }
        let now = self.svc.clock.now();
        let mut valid = Vec::with_capacity(requests.len());
        for (i, req) in requests.into_iter().enumerate() {
            match validate(req, now) {
                Ok(s) => valid.push(s),
                Err(mut e) => {
                    if batch {
                        e.message = format!("jobs[{i}]: {}", e.message);
                    }
                    return Box::pin(async move { Err(e.into()) });
                }
            }
        }
        let mut answers = Vec::with_capacity(valid.len());
        let mut owners = Vec::new();
        let mut fresh = Vec::new();
        let mut keys = Vec::new();
        let mut first_of: HashMap<String, usize> = HashMap::new();
        {
            let model = self.svc.journal.model();
            for (i, submitted) in valid.into_iter().enumerate() {
                let key = submitted.idempotency_key.clone();
                if let Some(k) = &key {
                    if let Some(view) = model.idempotency.get(k).and_then(|id| model.job(id)) {
                        answers.push(Answer::Ready(Accepted {
                            job_id: view.job_id,
                            status: view.status,
                            duplicate: true,
                        }));
                        continue;
                    }
                    if let Some(running) = self.in_flight.get(k) {
                        owners.push(running.clone());
                        answers.push(Answer::Await(running.clone()));
                        continue;
                    }
                    if let Some(&first) = first_of.get(k) {
                        answers.push(Answer::SameAs(first));
                        continue;
                    }
                    first_of.insert(k.clone(), i);
                    keys.push((k.clone(), fresh.len()));
                }
                answers.push(Answer::New(fresh.len()));
                fresh.push(submitted);
            }
        }
        let (svc, pending, scheduler, limits) = (
            self.svc.clone(),
            self.pending.clone(),
            self.scheduler.clone(),
            self.limits,
        );
        let count = fresh.len();
        let max = limits.max_pending.min(limits.max_waiting);
        if batch && count > max {
            let e = Invalid {
                code: "invalid_batch_size",
                message: format!(
                    "{count} new jobs can never be accepted at once: at most {max} may wait"
                ),
            };
            return Box::pin(async move { Err(e.into()) });
        }
        // Ids only for jobs that may be appended.
        let fresh: Vec<_> = fresh
            .into_iter()
            .map(|submitted| (self.svc.ids.next(now), submitted))
            .collect();
        let keyed: Vec<(Uuid, String)> = keys
            .iter()
            .map(|(k, place)| (fresh[*place].0, k.clone()))
            .collect();
        let intake = ctx.address();
        let ahead = self.submitting;
        self.submitting += count;
        let appended: Shared<BoxFuture<'static, Result<Vec<Uuid>, Rejection>>> = async move {
            // A job whose key another submission is still storing is that submission's job: if
            // it fails, this one fails before storing any job of its own, so the client can send
            // it all again without creating the others twice.
            for owner in owners {
                owner.await?;
            }
            if count == 0 {
                return Ok(Vec::new());
            }
            let max = limits.max_pending;
            if pending.send(Depth).await.unwrap_or(0) + ahead + count > max {
                return Err(Rejection::Busy(format!(
                    "{max} jobs are waiting to be scheduled; retry later"
                )));
            }
            let max = limits.max_waiting;
            if svc.journal.model().counters.waiting() + ahead + count > max {
                return Err(Rejection::Busy(format!(
                    "{max} jobs are waiting to run; retry later"
                )));
            }
            let appends = fresh
                .into_iter()
                .map(|(job_id, submitted)| JobAppend {
                    job_id,
                    events: vec![JobEvent::Submitted(submitted)],
                    correlation_id: job_id,
                    replaces: Vec::new(),
                })
                .collect::<Vec<_>>();
            let ids: Vec<Uuid> = appends.iter().map(|a| a.job_id).collect();
            let results = svc.journal.append_all(appends).await;
            // Every job that is in the log is queued, even if another was refused.
            let mut refused = None;
            let mut uncertain = Vec::new();
            for (job, result) in ids.iter().zip(results) {
                match result {
                    Ok(_) => queue_pending(&pending, &scheduler, *job, now).await,
                    Err(e) => {
                        if matches!(e, JournalError::Unavailable(_)) {
                            uncertain.push(*job);
                        }
                        refused = refused.or(Some(e));
                    }
                }
            }
            if !uncertain.is_empty() {
                let keys: Vec<String> = keyed
                    .into_iter()
                    .filter(|(job, _)| uncertain.contains(job))
                    .map(|(_, k)| k)
                    .collect();
                let (svc, pending, scheduler) = (svc.clone(), pending.clone(), scheduler.clone());
                let forget = keys.clone();
                let checker = intake.clone();
                let settling: Settling = async move {
                    settle_uncertain(svc, pending, scheduler, uncertain, now).await;
                    let _ = checker.send(Checked(forget)).await;
                }
                .boxed()
                .shared();
                // Registered before the check can end, and before this submission is answered
                // and its keys leave `in_flight`: a retry always finds the key in one of them.
                if !keys.is_empty() {
                    intake.do_send(Unsettled {
                        keys,
                        settling: settling.clone(),
                    });
                }
                actix::spawn(settling);
            }
            match refused {
                Some(e) => Err(e.into()),
                None => Ok(ids),
            }
        }
        .boxed()
        .shared();
        for (k, place) in &keys {
            let appended = appended.clone();
            let place = *place;
            let one: InFlight = async move { appended.await.map(|ids| Accepted::new(ids[place])) }
                .boxed()
                .shared();
            self.in_flight.insert(k.clone(), one);
        }
        let work = async move {
            let ids = appended.await;
            let mut out: Vec<Accepted> = Vec::with_capacity(answers.len());
            for answer in answers {
                let accepted = match answer {
                    Answer::Ready(a) => a,
                    Answer::Await(running) => Accepted {
                        duplicate: true,
                        ..running.await?
                    },
                    Answer::SameAs(first) => Accepted {
                        duplicate: true,
                        ..out[first].clone()
                    },
                    Answer::New(place) => Accepted::new(ids.as_ref().map_err(Clone::clone)?[place]),
                };
                out.push(accepted);
            }
            Ok(out)
        };
        let me = ctx.address();
        let keys = keys.into_iter().map(|(k, _)| k).collect();
        Box::pin(async move {
            let result = AssertUnwindSafe(work)
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(panicked(&*panic)));
            me.do_send(Settled { count, keys });
            result
        })
    }

    /// [`Intake::admit`], with a panic answered as an internal error: the request that caused it
    /// gets a 500, and the intake goes on taking submissions.
    fn admit_contained(
        &mut self,
        requests: Vec<SubmitRequest>,
        batch: bool,
        ctx: &mut Context<Self>,
    ) -> Admitted {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.admit(requests, batch, ctx))) {
            Ok(admitted) => admitted,
            Err(panic) => {
                let e = panicked(&*panic);
                Box::pin(async move { Err(e) })
            }
        }
    }

    /// When a key of `requests` belongs to a submission that may have been stored (its commit
    /// failed as Redis went away), waits for the check of it and admits the requests afresh, so
    /// that a retry finds the job it was not told about instead of creating a second one. If the
    /// check does not end within [`SETTLE_WAIT`] (Redis still away), the answer is unavailable.
    fn wait_for_checks(
        &self,
        requests: &[SubmitRequest],
        batch: bool,
        ctx: &mut Context<Self>,
    ) -> Option<Admitted> {
        if self.unsettled.is_empty() {
            return None;
        }
        let checks: Vec<Settling> = requests
            .iter()
            .filter_map(|r| self.unsettled.get(r.idempotency_key.as_ref()?))
            .cloned()
            .collect();
        if checks.is_empty() {
            return None;
        }
        let (me, requests) = (ctx.address(), requests.to_vec());
        Some(Box::pin(async move {
            let checked = futures::future::join_all(checks);
            if tokio::time::timeout(SETTLE_WAIT, checked).await.is_err() {
                return Err(Rejection::Unavailable(
                    "an earlier submission with this idempotency key may have been stored; \
                     the store cannot tell yet, retry later"
                        .into(),
                ));
            }
            me.send(Readmit { requests, batch })
                .await
                .map_err(|e| Rejection::Internal(e.to_string()))?
        }))
    }
}

/// The answer to a submission whose handling panicked (the hook has logged and counted it).
fn panicked(panic: &(dyn std::any::Any + Send)) -> Rejection {
    Rejection::Internal(format!("the intake panicked: {}", panic_message(panic)))
}

/// Hands a stored job to `PENDING` and wakes the scheduler.
async fn queue_pending(
    pending: &Addr<JobQueue>,
    scheduler: &Addr<Scheduler>,
    job: Uuid,
    due: DateTime<Utc>,
) {
    // PENDING is first come, first routed.
    let due = StartBy::soft(due);
    if pending.send(Enqueue { job, due }).await.is_ok() {
        scheduler.do_send(PendingArrived);
    }
}

/// Submissions whose commit failed as Redis went away may have been stored all the same (Redis
/// can store a commit and go away before answering). Once Redis answers again, each one found in
/// the log is folded and queued as if it had been answered; the others were not stored, and
/// their clients were told to retry.
async fn settle_uncertain(
    svc: Services,
    pending: Addr<JobQueue>,
    scheduler: Addr<Scheduler>,
    jobs: Vec<Uuid>,
    due: DateTime<Utc>,
) {
    for job in jobs {
        let mut patience = Patience::default();
        loop {
            match svc.journal.settle(job).await {
                Ok(found) => {
                    if !found.is_empty() {
                        tracing::info!(%job, "a submission answered 503 was stored: queued");
                        queue_pending(&pending, &scheduler, job, due).await;
                    }
                    break;
                }
                Err(JournalError::Unavailable(_)) => patience.wait().await,
                Err(e) => {
                    tracing::warn!(%job, error = %e, "cannot tell whether a submission was stored");
                    break;
                }
            }
        }
    }
}

impl Handler<Submit> for Intake {
    type Result = ResponseFuture<Result<Accepted, Rejection>>;

    fn handle(&mut self, Submit(req): Submit, ctx: &mut Context<Self>) -> Self::Result {
        let admitted = self.admit_contained(vec![req], false, ctx);
        Box::pin(async move {
            admitted
                .await?
                .pop()
                .ok_or_else(|| Rejection::Internal("no answer for the job".into()))
        })
    }
}

impl Handler<SubmitBatch> for Intake {
    type Result = Admitted;

    fn handle(&mut self, SubmitBatch(requests): SubmitBatch, ctx: &mut Context<Self>) -> Admitted {
        self.admit_contained(requests, true, ctx)
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
