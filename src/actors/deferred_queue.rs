//! The `DEFERRED` queue actor: jobs held until their release time (a planned slot, the latest
//! start that keeps the deadline, or the maximum deferral), or until a green window.

use std::collections::{BTreeSet, HashMap};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::events::ReleaseReason;

/// What the held set should be according to the log, to start again from after a panic.
pub type HeldSource = super::Source<Hold>;

/// Held jobs by release time.
#[derive(Default)]
pub struct DeferredQueue {
    by_time: BTreeSet<(DateTime<Utc>, Uuid)>,
    by_job: HashMap<Uuid, (DateTime<Utc>, ReleaseReason)>,
    source: Option<HeldSource>,
}

impl DeferredQueue {
    /// An empty queue that, after a panic in a handler, holds what `source` says (the
    /// journal's model) instead of dying with its jobs.
    pub fn rebuilt_by(source: HeldSource) -> Self {
        Self {
            source: Some(source),
            ..Self::default()
        }
    }

    fn hold(&mut self, h: Hold) {
        if let Some((t, _)) = self.by_job.insert(h.job, (h.release_at, h.reason)) {
            self.by_time.remove(&(t, h.job));
        }
        self.by_time.insert((h.release_at, h.job));
    }

    /// Runs a handler's work; after a panic the queue holds what its source says and `None`
    /// is returned.
    fn guarded<T>(&mut self, work: impl FnOnce(&mut Self) -> T) -> Option<T> {
        let done = super::contained("DEFERRED", || work(self));
        if done.is_none() {
            self.by_time.clear();
            self.by_job.clear();
            for h in super::refill("DEFERRED", self.source.as_ref()) {
                self.hold(h);
            }
        }
        done
    }
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
        self.guarded(|q| q.hold(h));
    }
}

impl Handler<TakeDue> for DeferredQueue {
    type Result = Due;

    fn handle(&mut self, TakeDue(now): TakeDue, _: &mut Context<Self>) -> Self::Result {
        self.guarded(|q| {
            let mut due = Vec::new();
            while let Some(&(t, job)) = q.by_time.first() {
                if t > now {
                    break;
                }
                q.by_time.pop_first();
                if let Some((_, reason)) = q.by_job.remove(&job) {
                    due.push((job, reason));
                }
            }
            due
        })
        .map_or_else(
            // Rebuilt: the next check takes what is due.
            || Due {
                jobs: Vec::new(),
                next: Some(now),
            },
            |jobs| Due {
                jobs,
                next: self.by_time.first().map(|(t, _)| *t),
            },
        )
    }
}

impl Handler<TakeAll> for DeferredQueue {
    type Result = Vec<Uuid>;

    fn handle(&mut self, _: TakeAll, _: &mut Context<Self>) -> Vec<Uuid> {
        self.guarded(|q| {
            q.by_job.clear();
            std::mem::take(&mut q.by_time)
                .into_iter()
                .map(|(_, j)| j)
                .collect()
        })
        .unwrap_or_default()
    }
}

impl Handler<Unhold> for DeferredQueue {
    type Result = bool;

    fn handle(&mut self, Unhold(job): Unhold, _: &mut Context<Self>) -> bool {
        self.guarded(|q| match q.by_job.remove(&job) {
            Some((t, _)) => q.by_time.remove(&(t, job)),
            None => false,
        })
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Makes the handler panic (tests only).
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Poisoned;

    impl Handler<Poisoned> for DeferredQueue {
        type Result = ();

        fn handle(&mut self, _: Poisoned, _: &mut Context<Self>) {
            self.guarded(|_| panic!("poisoned"));
        }
    }

    #[actix_rt::test]
    async fn after_a_panic_the_held_set_is_what_the_log_says() {
        let t0 = DateTime::parse_from_rfc3339("2023-03-14T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (one, seven) = (Uuid::from_u128(1), Uuid::from_u128(7));
        let hold = move |job| Hold {
            job,
            release_at: t0,
            reason: ReleaseReason::PlannedSlot,
        };
        let q = DeferredQueue::rebuilt_by(Arc::new(move || vec![hold(seven)])).start();
        q.send(hold(one)).await.unwrap();
        q.send(Poisoned).await.unwrap();
        let due = q.send(TakeDue(t0)).await.unwrap();
        assert_eq!(due.jobs, vec![(seven, ReleaseReason::PlannedSlot)]);
        assert_eq!(due.next, None);
    }
}
