//! A queue actor (`PENDING`, `FAST`, `ECO`): owns its jobs in memory and hands out the most
//! urgent first: earliest due time (a job's latest start, or its enqueue time when it has no
//! deadline), then first come. A worker asking while the queue is empty waits until a job
//! arrives. Bounded: a full queue refuses.
//!
//! Two queues can be siblings (FAST and ECO): a job arriving while no worker of its own pool
//! waits is offered to a waiting worker of the other pool, so one pool never queues while the
//! other idles.
//!
//! A job whose deadline sets its due time becomes urgent [`URGENT_WITHIN`] before it: a worker
//! of either pool takes the most urgent such job first ([`TakeUrgent`]), ahead of the jobs
//! without a deadline queued before it and ahead of its own pool's backlog.
//!
//! The `queue:*` lists in Redis stay FIFO projections of the log; the dispatch order here is
//! earliest-due-first so a job released at its latest start is not stuck behind others.
//!
//! [`URGENT_WITHIN`]: super::routing::URGENT_WITHIN

use std::collections::{BTreeMap, HashMap, VecDeque};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::routing::StartBy;
use crate::store::keys::QueueName;

/// A queued job's key: due time, then arrival.
type Key = (DateTime<Utc>, u64);

/// What a queue should hold according to the log, to start again from after a panic.
pub type QueueSource = super::Source<(Uuid, StartBy)>;

/// One queue.
pub struct JobQueue {
    name: QueueName,
    capacity: usize,
    jobs: BTreeMap<Key, Uuid>,
    /// The jobs of `jobs` whose due time a deadline sets.
    hard: BTreeMap<Key, Uuid>,
    keys: HashMap<Uuid, Key>,
    next_seq: u64,
    waiters: VecDeque<oneshot::Sender<Uuid>>,
    sibling: Option<Addr<JobQueue>>,
    source: Option<QueueSource>,
}

impl JobQueue {
    /// An empty queue holding at most `capacity` jobs.
    pub fn new(name: QueueName, capacity: usize) -> Self {
        JobQueue {
            name,
            capacity,
            jobs: BTreeMap::new(),
            hard: BTreeMap::new(),
            keys: HashMap::new(),
            next_seq: 0,
            waiters: VecDeque::new(),
            sibling: None,
            source: None,
        }
    }

    /// The same queue, which after a panic in a handler starts again from what `source` says
    /// it holds (the journal's model), instead of dying with its jobs.
    pub fn rebuilt_by(mut self, source: QueueSource) -> Self {
        self.source = Some(source);
        self
    }

    /// Runs a handler's work on the queue; after a panic the queue holds what its source says
    /// (the workers waiting stay) and `None` is returned.
    fn guarded<T>(&mut self, work: impl FnOnce(&mut Self) -> T) -> Option<T> {
        let done = super::contained(self.name.as_str(), || work(self));
        if done.is_none() {
            self.jobs.clear();
            self.hard.clear();
            self.keys.clear();
            for (job, due) in super::refill(self.name.as_str(), self.source.as_ref()) {
                self.insert(job, due);
            }
        }
        done
    }

    /// Hands `job` to a waiting worker, or gives it back.
    fn hand_to_waiter(&mut self, mut job: Uuid) -> Result<(), Uuid> {
        while let Some(waiter) = self.waiters.pop_front() {
            match waiter.send(job) {
                Ok(()) => return Ok(()),
                Err(back) => job = back,
            }
        }
        Err(job)
    }

    fn insert(&mut self, job: Uuid, due: StartBy) {
        self.remove(&job);
        let key = (due.at, self.next_seq);
        self.next_seq += 1;
        self.jobs.insert(key, job);
        if due.hard {
            self.hard.insert(key, job);
        }
        self.keys.insert(job, key);
    }

    fn remove(&mut self, job: &Uuid) -> bool {
        let Some(key) = self.keys.remove(job) else {
            return false;
        };
        self.hard.remove(&key);
        self.jobs.remove(&key).is_some()
    }

    fn pop(&mut self) -> Option<Uuid> {
        let (&key, &job) = self.jobs.first_key_value()?;
        self.jobs.remove(&key);
        self.hard.remove(&key);
        self.keys.remove(&job);
        Some(job)
    }

    /// Takes the job with a deadline due first, if it is due by `by`.
    fn pop_urgent(&mut self, by: DateTime<Utc>) -> Option<Uuid> {
        let (&key, &job) = self
            .hard
            .first_key_value()
            .filter(|((at, _), _)| *at <= by)?;
        self.hard.remove(&key);
        self.jobs.remove(&key);
        self.keys.remove(&job);
        Some(job)
    }
}

impl Actor for JobQueue {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Producers wait on the mailbox rather than growing it without bound.
        ctx.set_mailbox_capacity(1024);
    }
}

/// The queue is at capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("queue {0} is full")]
pub struct QueueFull(pub &'static str);

/// Adds a job, or hands it straight to a waiting worker.
#[derive(Message)]
#[rtype(result = "Result<(), QueueFull>")]
pub struct Enqueue {
    /// The job.
    pub job: Uuid,
    /// When it must start at the latest (its enqueue time if it has no deadline).
    pub due: StartBy,
}

/// Takes the most urgent job, waiting for one if the queue is empty.
#[derive(Message)]
#[rtype(result = "Option<Uuid>")]
pub struct Take;

/// Takes the most urgent job if there is one, without waiting.
#[derive(Message)]
#[rtype(result = "Option<Uuid>")]
pub struct TryTake;

/// Takes the job with a deadline that is due first, if it is due by this time; without waiting.
#[derive(Message)]
#[rtype(result = "Option<Uuid>")]
pub struct TakeUrgent(pub DateTime<Utc>);

/// Removes a job (cancelled); whether it was queued here.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Withdraw(pub Uuid);

/// Jobs waiting in the queue.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Depth;

impl Handler<Enqueue> for JobQueue {
    type Result = Result<(), QueueFull>;

    fn handle(&mut self, Enqueue { job, due }: Enqueue, ctx: &mut Context<Self>) -> Self::Result {
        let me = ctx.address();
        // After a panic the rebuilt queue holds the job if the log says it waits here.
        self.guarded(|q| {
            let Err(job) = q.hand_to_waiter(job) else {
                return Ok(());
            };
            if q.jobs.len() >= q.capacity {
                return Err(QueueFull(q.name.as_str()));
            }
            match &q.sibling {
                Some(sibling) => sibling.do_send(Offer { job, due, from: me }),
                None => q.insert(job, due),
            }
            Ok(())
        })
        .unwrap_or(Ok(()))
    }
}

/// Makes `0` this queue's sibling (both ways is up to the caller).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetSibling(pub Addr<JobQueue>);

/// A sibling's job for one of our waiting workers; sent back with [`Keep`] if none waits.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Offer {
    job: Uuid,
    due: StartBy,
    from: Addr<JobQueue>,
}

/// Our own job, offered to the sibling in vain: queue it here.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Keep {
    job: Uuid,
    due: StartBy,
}

impl Handler<SetSibling> for JobQueue {
    type Result = ();

    fn handle(&mut self, SetSibling(sibling): SetSibling, _: &mut Context<Self>) {
        self.sibling = Some(sibling);
    }
}

impl Handler<Offer> for JobQueue {
    type Result = ();

    fn handle(&mut self, Offer { job, due, from }: Offer, _: &mut Context<Self>) {
        if let Some(Err(job)) = self.guarded(|q| q.hand_to_waiter(job)) {
            from.do_send(Keep { job, due });
        }
    }
}

impl Handler<Keep> for JobQueue {
    type Result = ();

    fn handle(&mut self, Keep { job, due }: Keep, _: &mut Context<Self>) {
        // A worker of ours may have started waiting while the offer travelled.
        self.guarded(|q| {
            if let Err(job) = q.hand_to_waiter(job) {
                q.insert(job, due);
            }
        });
    }
}

impl Handler<Take> for JobQueue {
    type Result = ResponseFuture<Option<Uuid>>;

    fn handle(&mut self, _: Take, _: &mut Context<Self>) -> Self::Result {
        if let Some(job) = self.guarded(Self::pop).flatten() {
            return Box::pin(async move { Some(job) });
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.push_back(tx);
        Box::pin(async move { rx.await.ok() })
    }
}

impl Handler<TryTake> for JobQueue {
    type Result = Option<Uuid>;

    fn handle(&mut self, _: TryTake, _: &mut Context<Self>) -> Option<Uuid> {
        self.guarded(Self::pop).flatten()
    }
}

impl Handler<TakeUrgent> for JobQueue {
    type Result = Option<Uuid>;

    fn handle(&mut self, TakeUrgent(by): TakeUrgent, _: &mut Context<Self>) -> Option<Uuid> {
        self.guarded(|q| q.pop_urgent(by)).flatten()
    }
}

impl Handler<Withdraw> for JobQueue {
    type Result = bool;

    fn handle(&mut self, Withdraw(job): Withdraw, _: &mut Context<Self>) -> bool {
        self.guarded(|q| q.remove(&job)).unwrap_or(false)
    }
}

impl Handler<Depth> for JobQueue {
    type Result = usize;

    fn handle(&mut self, _: Depth, _: &mut Context<Self>) -> usize {
        self.jobs.len()
    }
}

/// Makes the next handler panic (tests only).
#[cfg(test)]
#[derive(Message)]
#[rtype(result = "Option<Uuid>")]
struct Poisoned;

#[cfg(test)]
impl Handler<Poisoned> for JobQueue {
    type Result = Option<Uuid>;

    fn handle(&mut self, _: Poisoned, _: &mut Context<Self>) -> Option<Uuid> {
        self.guarded(|_| -> Option<Uuid> { panic!("poisoned") })
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use chrono::TimeDelta;

    #[actix_rt::test]
    async fn after_a_panic_the_queue_lives_on_and_holds_what_the_log_says() {
        // Given a queue whose log says job 7 waits in it, holding job 1 that the log no longer
        // has (say it was cancelled in between)
        let t0 = DateTime::parse_from_rfc3339("2023-03-14T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (one, seven) = (Uuid::from_u128(1), Uuid::from_u128(7));
        let q = JobQueue::new(QueueName::Fast, 10)
            .rebuilt_by(Arc::new(move || vec![(seven, StartBy::soft(t0))]))
            .start();
        let due = StartBy::soft(t0);
        q.send(Enqueue { job: one, due }).await.unwrap().unwrap();
        // When a handler panics
        assert_eq!(q.send(Poisoned).await.unwrap(), None);
        // Then the actor still answers, with the log's jobs
        assert_eq!(q.send(Depth).await.unwrap(), 1);
        assert_eq!(q.send(TryTake).await.unwrap(), Some(seven));
        assert_eq!(q.send(TryTake).await.unwrap(), None);
    }

    #[actix_rt::test]
    async fn a_job_near_its_latest_start_is_taken_before_earlier_jobs_without_deadline() {
        // Given a job without deadline queued at t0, and two with deadlines: latest starts
        // 10 and 60 minutes later
        let q = JobQueue::new(QueueName::Eco, 10).start();
        let t0 = DateTime::parse_from_rfc3339("2023-03-14T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (soft, soon, later) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let hard = |m| StartBy {
            at: t0 + TimeDelta::minutes(m),
            hard: true,
        };
        for (job, due) in [
            (soft, StartBy::soft(t0)),
            (later, hard(60)),
            (soon, hard(10)),
        ] {
            q.send(Enqueue { job, due }).await.unwrap().unwrap();
        }
        // When workers ask for urgent jobs due within 15 minutes, then for any
        let by = t0 + TimeDelta::minutes(15);
        // Then the one due in 10 minutes comes first, the one due in 60 is not urgent yet,
        // and the rest come in due order
        assert_eq!(q.send(TakeUrgent(by)).await.unwrap(), Some(soon));
        assert_eq!(q.send(TakeUrgent(by)).await.unwrap(), None);
        assert_eq!(q.send(TryTake).await.unwrap(), Some(soft));
        assert!(q.send(Withdraw(later)).await.unwrap());
        assert_eq!(
            q.send(TakeUrgent(t0 + TimeDelta::days(1))).await.unwrap(),
            None
        );
        assert_eq!(q.send(Depth).await.unwrap(), 0);
    }
}
