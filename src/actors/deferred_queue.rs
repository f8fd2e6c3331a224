//! The `DEFERRED` queue actor: jobs held until their release time (a planned slot, the latest
//! start that keeps the deadline, or the maximum deferral), or until a green window.

use std::collections::{BTreeSet, HashMap};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::events::ReleaseReason;

/// Held jobs by release time.
#[derive(Default)]
pub struct DeferredQueue {
    by_time: BTreeSet<(DateTime<Utc>, Uuid)>,
    by_job: HashMap<Uuid, (DateTime<Utc>, ReleaseReason)>,
}

impl Actor for DeferredQueue {
    type Context = Context<Self>;
}

/// Holds a job until `release_at`, when it is let go for `reason`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Hold {
    /// The job.
    pub job: Uuid,
    /// When it must be let go at the latest.
    pub release_at: DateTime<Utc>,
    /// Why it will be let go then.
    pub reason: ReleaseReason,
}

/// Takes every job due at `now`, earliest first; also says when the next one is due.
#[derive(Message)]
#[rtype(result = "Due")]
pub struct TakeDue(pub DateTime<Utc>);

/// The jobs let go, and when the next held job is due.
#[derive(Debug, Default, MessageResponse)]
pub struct Due {
    /// Jobs and why they go now.
    pub jobs: Vec<(Uuid, ReleaseReason)>,
    /// The earliest release time still held.
    pub next: Option<DateTime<Utc>>,
}

/// Takes every held job (a green window opened).
#[derive(Message)]
#[rtype(result = "Vec<Uuid>")]
pub struct TakeAll;

/// Removes a job (cancelled); whether it was held.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Unhold(pub Uuid);

impl Handler<Hold> for DeferredQueue {
    type Result = ();

    fn handle(&mut self, h: Hold, _: &mut Context<Self>) {
        if let Some((t, _)) = self.by_job.insert(h.job, (h.release_at, h.reason)) {
            self.by_time.remove(&(t, h.job));
        }
        self.by_time.insert((h.release_at, h.job));
    }
}

impl Handler<TakeDue> for DeferredQueue {
    type Result = Due;

    fn handle(&mut self, TakeDue(now): TakeDue, _: &mut Context<Self>) -> Self::Result {
        let mut due = Vec::new();
        while let Some(&(t, job)) = self.by_time.first() {
            if t > now {
                break;
            }
            self.by_time.pop_first();
            if let Some((_, reason)) = self.by_job.remove(&job) {
                due.push((job, reason));
            }
        }
        Due {
            jobs: due,
            next: self.by_time.first().map(|(t, _)| *t),
        }
    }
}

impl Handler<TakeAll> for DeferredQueue {
    type Result = Vec<Uuid>;

    fn handle(&mut self, _: TakeAll, _: &mut Context<Self>) -> Vec<Uuid> {
        self.by_job.clear();
        std::mem::take(&mut self.by_time)
            .into_iter()
            .map(|(_, j)| j)
            .collect()
    }
}

impl Handler<Unhold> for DeferredQueue {
    type Result = bool;

    fn handle(&mut self, Unhold(job): Unhold, _: &mut Context<Self>) -> bool {
        match self.by_job.remove(&job) {
            Some((t, _)) => self.by_time.remove(&(t, job)),
            None => false,
        }
    }
}
