//! A FIFO queue actor (`PENDING`, `FAST`, `ECO`): owns its jobs in memory; a worker asking for
//! a job while the queue is empty waits until one arrives. Bounded: a full queue refuses.

use std::collections::VecDeque;

use actix::prelude::*;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::store::keys::QueueName;

/// One FIFO queue.
pub struct JobQueue {
    name: QueueName,
    capacity: usize,
    jobs: VecDeque<Uuid>,
    waiters: VecDeque<oneshot::Sender<Uuid>>,
}

impl JobQueue {
    /// An empty queue holding at most `capacity` jobs.
    pub fn new(name: QueueName, capacity: usize) -> Self {
        JobQueue {
            name,
            capacity,
            jobs: VecDeque::new(),
            waiters: VecDeque::new(),
        }
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

/// Adds a job at the back, or hands it straight to a waiting worker.
#[derive(Message)]
#[rtype(result = "Result<(), QueueFull>")]
pub struct Enqueue(pub Uuid);

/// Takes the oldest job, waiting for one if the queue is empty.
#[derive(Message)]
#[rtype(result = "Option<Uuid>")]
pub struct Take;

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

    fn handle(&mut self, Enqueue(job): Enqueue, _: &mut Context<Self>) -> Self::Result {
        let mut job = job;
        while let Some(waiter) = self.waiters.pop_front() {
            match waiter.send(job) {
                Ok(()) => return Ok(()),
                Err(back) => job = back,
            }
        }
        if self.jobs.len() >= self.capacity {
            return Err(QueueFull(self.name.as_str()));
        }
        self.jobs.push_back(job);
        Ok(())
    }
}

impl Handler<Take> for JobQueue {
    type Result = ResponseFuture<Option<Uuid>>;

    fn handle(&mut self, _: Take, _: &mut Context<Self>) -> Self::Result {
        if let Some(job) = self.jobs.pop_front() {
            return Box::pin(async move { Some(job) });
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.push_back(tx);
        Box::pin(async move { rx.await.ok() })
    }
}

impl Handler<Withdraw> for JobQueue {
    type Result = bool;

    fn handle(&mut self, Withdraw(job): Withdraw, _: &mut Context<Self>) -> bool {
        match self.jobs.iter().position(|j| *j == job) {
            Some(i) => self.jobs.remove(i).is_some(),
            None => false,
        }
    }
}

impl Handler<Depth> for JobQueue {
    type Result = usize;

    fn handle(&mut self, _: Depth, _: &mut Context<Self>) -> usize {
        self.jobs.len()
    }
}
