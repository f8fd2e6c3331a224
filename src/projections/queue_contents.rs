//! The four queues as read models, in the seed ADR's order: lists take `LPUSH` at the left and
//! give the oldest job from the right; `DEFERRED` is a set scored by deferral deadline.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use uuid::Uuid;

use crate::store::keys::QueueName;

/// One FIFO queue: jobs in the order they entered it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FifoQueue {
    order: BTreeMap<u64, Uuid>,
    seq_of: FxHashMap<Uuid, u64>,
    next_seq: u64,
}

impl FifoQueue {
    /// Adds a job at the back (Redis: `LPUSH`).
    pub fn push(&mut self, job: Uuid) {
        self.remove(&job);
        self.order.insert(self.next_seq, job);
        self.seq_of.insert(job, self.next_seq);
        self.next_seq += 1;
    }

    /// Removes a job wherever it is; whether it was there.
    pub fn remove(&mut self, job: &Uuid) -> bool {
        match self.seq_of.remove(job) {
            Some(seq) => self.order.remove(&seq).is_some(),
            None => false,
        }
    }

    /// Number of jobs.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Whether `job` is queued here.
    pub fn contains(&self, job: &Uuid) -> bool {
        self.seq_of.contains_key(job)
    }

    /// Oldest first: the order workers take them (Redis: `RPOP` order).
    pub fn oldest_first(&self) -> impl DoubleEndedIterator<Item = &Uuid> + '_ {
        self.order.values()
    }

    /// The Redis list from left to right (newest first).
    pub fn as_redis_list(&self) -> Vec<String> {
        self.order.values().rev().map(|id| id.to_string()).collect()
    }
}

/// The deferred set: job → deferral deadline (epoch seconds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeferredSet {
    by_job: FxHashMap<Uuid, i64>,
    by_score: BTreeMap<(i64, Uuid), ()>,
}

impl DeferredSet {
    /// Adds or moves a job.
    pub fn insert(&mut self, job: Uuid, score: i64) {
        self.remove(&job);
        self.by_job.insert(job, score);
        self.by_score.insert((score, job), ());
    }

    /// Removes a job; whether it was there.
    pub fn remove(&mut self, job: &Uuid) -> bool {
        match self.by_job.remove(job) {
            Some(score) => self.by_score.remove(&(score, *job)).is_some(),
            None => false,
        }
    }

    /// Number of jobs.
    pub fn len(&self) -> usize {
        self.by_job.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.by_job.is_empty()
    }

    /// Earliest deadline first, as `ZRANGE` returns them.
    pub fn by_deadline(&self) -> impl Iterator<Item = (Uuid, i64)> + '_ {
        self.by_score.keys().map(|(s, j)| (*j, *s))
    }
}

/// All four queues.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueContents {
    /// `queue:PENDING`.
    pub pending: FifoQueue,
    /// `queue:FAST`.
    pub fast: FifoQueue,
    /// `queue:ECO`.
    pub eco: FifoQueue,
    /// `queue:DEFERRED`.
    pub deferred: DeferredSet,
}

impl QueueContents {
    /// The list behind a list queue (`None` for `DEFERRED`).
    pub fn list(&self, name: QueueName) -> Option<&FifoQueue> {
        match name {
            QueueName::Pending => Some(&self.pending),
            QueueName::Fast => Some(&self.fast),
            QueueName::Eco => Some(&self.eco),
            QueueName::Deferred => None,
        }
    }

    pub(crate) fn list_mut(&mut self, name: QueueName) -> Option<&mut FifoQueue> {
        match name {
            QueueName::Pending => Some(&mut self.pending),
            QueueName::Fast => Some(&mut self.fast),
            QueueName::Eco => Some(&mut self.eco),
            QueueName::Deferred => None,
        }
    }

    pub(crate) fn push(&mut self, name: QueueName, job: Uuid) {
        if let Some(list) = self.list_mut(name) {
            list.push(job);
        }
    }

    /// Depth of any queue.
    pub fn depth(&self, name: QueueName) -> usize {
        match self.list(name) {
            Some(list) => list.len(),
            None => self.deferred.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_reads_newest_first_in_redis_and_oldest_first_for_workers() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let mut q = FifoQueue::default();
        q.push(a);
        q.push(b);
        q.push(c);
        assert!(q.remove(&b));
        assert!(!q.remove(&b));
        assert_eq!(q.oldest_first().copied().collect::<Vec<_>>(), vec![a, c]);
        assert_eq!(q.as_redis_list(), vec![c.to_string(), a.to_string()]);
    }

    #[test]
    fn the_deferred_set_orders_by_deadline_then_id() {
        let mut d = DeferredSet::default();
        d.insert(Uuid::from_u128(9), 20);
        d.insert(Uuid::from_u128(1), 30);
        d.insert(Uuid::from_u128(1), 10);
        let order: Vec<_> = d.by_deadline().collect();
        assert_eq!(
            order,
            vec![(Uuid::from_u128(1), 10), (Uuid::from_u128(9), 20)]
        );
    }
}
