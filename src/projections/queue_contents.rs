//! The four queues as read models, in the seed ADR's order: lists take `LPUSH` at the left and
//! give the oldest job from the right; `DEFERRED` is a set scored by deferral deadline.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap;

use uuid::Uuid;

use crate::store::keys::QueueName;

/// One FIFO queue: jobs in the order they entered it.
///
/// Slots in a ring in entry order, each job's slot number in a map: pushing and removing are
/// O(1); a removed job leaves an empty slot, dropped when it reaches the front or when empty
/// slots outnumber jobs (then the ring is compacted and renumbered).
#[derive(Debug, Clone, Default)]
pub struct FifoQueue {
    slots: VecDeque<Option<Uuid>>,
    /// Slot number of `slots[0]`.
    first: u64,
    slot_of: FxHashMap<Uuid, u64>,
}

impl PartialEq for FifoQueue {
    fn eq(&self, other: &Self) -> bool {
        self.oldest_first().eq(other.oldest_first())
    }
}

impl FifoQueue {
    /// Adds a job at the back (Redis: `LPUSH`).
    pub fn push(&mut self, job: Uuid) {
        self.remove(&job);
        let slot = self.first + self.slots.len() as u64;
        self.slots.push_back(Some(job));
        self.slot_of.insert(job, slot);
    }

    /// Removes a job wherever it is; whether it was there.
    pub fn remove(&mut self, job: &Uuid) -> bool {
        let Some(slot) = self.slot_of.remove(job) else {
            return false;
        };
        self.slots[(slot - self.first) as usize] = None;
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.first += 1;
        }
        if self.slots.len() > 64 && self.slots.len() > 2 * self.slot_of.len() {
            self.compact();
        }
        true
    }

    fn compact(&mut self) {
        self.slots.retain(Option::is_some);
        for (i, job) in self.slots.iter().flatten().enumerate() {
            self.slot_of.insert(*job, self.first + i as u64);
        }
    }

    /// Number of jobs.
    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    /// Whether `job` is queued here.
    pub fn contains(&self, job: &Uuid) -> bool {
        self.slot_of.contains_key(job)
    }

    /// Oldest first: the order workers take them (Redis: `RPOP` order).
    pub fn oldest_first(&self) -> impl DoubleEndedIterator<Item = &Uuid> + '_ {
        self.slots.iter().flatten()
    }

    /// The Redis list from left to right (newest first).
    pub fn as_redis_list(&self) -> Vec<String> {
        self.oldest_first().rev().map(|id| id.to_string()).collect()
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
    fn a_list_keeps_its_order_through_many_removals_and_compactions() {
        let mut q = FifoQueue::default();
        let mut model = std::collections::VecDeque::new();
        for i in 0..2_000u128 {
            let id = Uuid::from_u128(i);
            q.push(id);
            model.push_back(id);
            // Remove from the middle and the front at different paces.
            if i % 3 == 0 {
                let victim = model.remove(model.len() / 2).expect("some");
                assert!(q.remove(&victim));
            }
            if i % 7 == 0 && !model.is_empty() {
                let victim = model.pop_front().expect("some");
                assert!(q.remove(&victim));
            }
            if i % 11 == 0 && !model.is_empty() {
                // Re-pushing moves a job to the back.
                let again = model.remove(0).expect("some");
                model.push_back(again);
                q.push(again);
            }
        }
        assert_eq!(q.len(), model.len());
        assert!(q.oldest_first().eq(model.iter()));
        assert!(q.slots.len() <= 2 * q.len() + 64);
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
