//! The event log in this process's memory: same contract as Redis, for the simulated day and tests.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use uuid::Uuid;

use super::{AppendRequest, Entry, Stamper, StoreError};
use crate::events::{codec::current_version, EventMeta, JobEvent, RecordedEvent, StreamId};

#[derive(Debug, Default)]
struct Log {
    entries: BTreeMap<StreamId, RecordedEvent>,
    versions: HashMap<Uuid, u64>,
    by_job: HashMap<Uuid, Vec<StreamId>>,
    last: StreamId,
}

/// An in-memory event log. Clones share the same log.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    log: Arc<Mutex<Log>>,
    appended: Arc<Notify>,
    stamper: Stamper,
}

impl MemoryStore {
    /// An empty log stamping envelopes with `stamper`.
    pub fn new(stamper: Stamper) -> Self {
        MemoryStore {
            log: Arc::default(),
            appended: Arc::new(Notify::new()),
            stamper,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn abandon(&self, job_id: Uuid) -> u64 {
        let mut log = self.lock();
        let version = log.versions.entry(job_id).or_insert(0);
        if *version == 0 {
            *version = 1;
            return 0;
        }
        *version
    }

    pub(super) fn append_batch(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Vec<Result<Vec<RecordedEvent>, StoreError>> {
        let now = self.stamper.clock.now();
        let ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let mut log = self.lock();
        let mut out = Vec::with_capacity(requests.len());
        for request in requests {
            let actual = log.versions.get(&request.job_id).copied().unwrap_or(0);
            if actual != request.expected_version {
                out.push(Err(StoreError::Conflict {
                    job_id: request.job_id,
                    expected: request.expected_version,
                    actual,
                }));
                continue;
            }
            let mut recorded = Vec::with_capacity(request.events.len());
            for (i, event) in request.events.into_iter().enumerate() {
                // Ids grow like Redis's: the clock's millisecond, or the last id's successor.
                let stream_id = if ms > log.last.ms {
                    StreamId::new(ms, 0)
                } else {
                    log.last.successor()
                };
                log.last = stream_id;
                let record = RecordedEvent {
                    stream_id,
                    meta: EventMeta {
                        event_id: self.stamper.ids.next(now),
                        job_id: request.job_id,
                        job_version: actual + i as u64 + 1,
                        schema_version: current_version(event.type_name()),
                        recorded_at: now,
                        correlation_id: request.correlation_id,
                        causation_id: request.causation_id,
                    },
                    event,
                };
                log.by_job
                    .entry(request.job_id)
                    .or_default()
                    .push(stream_id);
                log.entries.insert(stream_id, record.clone());
                recorded.push(record);
            }
            if let Some(JobEvent::Retired(_)) = recorded.last().map(|r| &r.event) {
                // As the append script does: the summary replaces the job's other entries.
                let mut ids = log.by_job.remove(&request.job_id).unwrap_or_default();
                ids.pop();
                for id in ids {
                    log.entries.remove(&id);
                }
                log.versions.remove(&request.job_id);
            } else if !request.replaces.is_empty() {
                for id in &request.replaces {
                    log.entries.remove(id);
                }
                log.by_job.remove(&request.job_id);
            } else {
                log.versions
                    .insert(request.job_id, actual + recorded.len() as u64);
            }
            out.push(Ok(recorded));
        }
        drop(log);
        self.appended.notify_waiters();
        out
    }

    pub(super) fn read_range(&self, from: StreamId, to: StreamId, count: usize) -> Vec<Entry> {
        if from > to {
            return Vec::new();
        }
        let log = self.lock();
        log.entries
            .range(from..=to)
            .take(count)
            .map(|(id, e)| (*id, Ok(e.clone())))
            .collect()
    }

    pub(super) async fn read_after(
        &self,
        after: StreamId,
        count: usize,
        block: Option<Duration>,
    ) -> Vec<Entry> {
        let read = || {
            let log = self.lock();
            log.entries
                .range((Excluded(after), Unbounded))
                .take(count)
                .map(|(id, e)| (*id, Ok(e.clone())))
                .collect::<Vec<_>>()
        };
        let Some(block) = block else {
            return read();
        };
        let deadline = tokio::time::Instant::now() + block;
        loop {
            // Register interest before looking, so an append in between is not missed.
            let notified = self.appended.notified();
            let entries = read();
            if !entries.is_empty() {
                return entries;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Vec::new();
            }
        }
    }

    pub(super) fn job_history(&self, job_id: Uuid) -> Vec<Entry> {
        let log = self.lock();
        log.by_job
            .get(&job_id)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| log.entries.get(id))
                    .map(|e| (e.stream_id, Ok(e.clone())))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn job_version(&self, job_id: Uuid) -> u64 {
        self.lock().versions.get(&job_id).copied().unwrap_or(0)
    }

    pub(super) fn entry_count(&self) -> u64 {
        self.lock().entries.len() as u64
    }
}
