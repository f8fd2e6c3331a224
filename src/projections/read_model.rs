//! The pure fold from events to every read model, and the effects each event has on them.

use rustc_hash::FxHashMap;

use uuid::Uuid;

use super::counters::Counters;
use super::job_view::{FieldGroups, JobView, Mode, Status};
use super::queue_contents::QueueContents;
use crate::events::*;
use crate::store::keys::QueueName;
use crate::store::EntryError;

/// A change to the Redis read models, in the order it must be applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Write these groups of the job's hash (with `SUBMISSION`, also its index and
    /// idempotency entries).
    Job(Uuid, FieldGroups),
    /// `LPUSH` onto a list queue.
    Push(QueueName, Uuid),
    /// `LREM` from a list queue.
    Remove(QueueName, Uuid),
    /// `ZADD queue:DEFERRED` with this score.
    Defer(Uuid, i64),
    /// `ZREM queue:DEFERRED`.
    Undefer(Uuid),
}

/// Something in the log that should not be there.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// Where.
    pub stream_id: StreamId,
    /// The job, when known.
    pub job_id: Option<Uuid>,
    /// What is wrong.
    pub problem: String,
}

/// Every read model, folded from the log.
#[derive(Debug, Clone, Default)]
pub struct ReadModel {
    /// Each job's view (boxed: growing the map moves pointers, not views).
    pub jobs: FxHashMap<Uuid, Box<JobView>>,
    /// Queue contents.
    pub queues: QueueContents,
    /// `/stats` counters.
    pub counters: Counters,
    /// Idempotency key → first job.
    pub idempotency: FxHashMap<String, Uuid>,
    /// The last entry folded.
    pub checkpoint: StreamId,
    /// Entries applied.
    pub applied: u64,
}

fn list_of(pool: Pool) -> QueueName {
    match pool {
        Pool::Fast => QueueName::Fast,
        Pool::Eco => QueueName::Eco,
    }
}

impl ReadModel {
    /// Folds one decoded-or-not entry; undecodable and illegal entries are anomalies and change
    /// nothing but the checkpoint.
    pub fn apply_entry(
        &mut self,
        stream_id: StreamId,
        entry: Result<RecordedEvent, EntryError>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Anomaly> {
        self.checkpoint = self.checkpoint.max(stream_id);
        match entry {
            Ok(recorded) => self.apply(recorded, effects),
            Err(e) => Err(Anomaly {
                stream_id,
                job_id: None,
                problem: format!("undecodable entry: {}", error_chain(&e)),
            }),
        }
    }

    /// Folds one event, pushing its effects; an illegal transition is an anomaly and is skipped.
    pub fn apply(
        &mut self,
        recorded: RecordedEvent,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Anomaly> {
        let RecordedEvent {
            stream_id,
            meta,
            event,
        } = recorded;
        self.checkpoint = self.checkpoint.max(stream_id);
        let job_id = meta.job_id;
        let at = meta.recorded_at;
        let anomaly = |problem: String| Anomaly {
            stream_id,
            job_id: Some(job_id),
            problem,
        };
        let mut view = self.jobs.get_mut(&job_id);
        let lifecycle = view.as_ref().map(|j| j.lifecycle).unwrap_or_default();
        let next = lifecycle.next(&event).map_err(|e| anomaly(e.to_string()))?;
        if meta.job_version != next.version {
            return Err(anomaly(format!(
                "job version {} where {} was expected",
                meta.job_version, next.version
            )));
        }
        self.applied += 1;
        if let JobEvent::Submitted(s) = event {
            if let Some(key) = &s.idempotency_key {
                self.idempotency.entry(key.clone()).or_insert(job_id);
            }
            let mut view = JobView::submitted(job_id, s, at);
            view.lifecycle = next;
            self.jobs.insert(job_id, Box::new(view));
            self.counters.total_jobs += 1;
            self.counters.move_status(None, Status::Queued);
            self.queues.pending.push(job_id);
            effects.push(Effect::Push(QueueName::Pending, job_id));
            effects.push(Effect::Job(job_id, FieldGroups::ALL));
            return Ok(());
        }
        let Some(view) = view.take() else {
            return Err(anomaly("event for a job never submitted".into()));
        };
        let before = view.status;
        let mode_before = view.mode;
        view.lifecycle = next;
        view.updated_at = at;
        let counters = &mut self.counters;
        let queues = &mut self.queues;
        let mut remove = |q: QueueName, effects: &mut Vec<Effect>| {
            if let Some(list) = queues.list_mut(q) {
                if list.remove(&job_id) {
                    effects.push(Effect::Remove(q, job_id));
                }
            } else if queues.deferred.remove(&job_id) {
                effects.push(Effect::Undefer(job_id));
            }
        };
        let changed = FieldGroups::STATE
            | match &event {
                JobEvent::Submitted(_) | JobEvent::Released(_) => FieldGroups::default(),
                JobEvent::Scheduled(_) | JobEvent::Deferred(_) => FieldGroups::DECISION,
                JobEvent::Started(_) => FieldGroups::RUN,
                JobEvent::Completed(_)
                | JobEvent::Failed(_)
                | JobEvent::Cancelled(_)
                | JobEvent::DeadLettered(_) => FieldGroups::OUTCOME,
            };
        match event {
            JobEvent::Submitted(_) => {}
            JobEvent::Scheduled(s) => {
                remove(QueueName::Pending, effects);
                view.status = Status::Scheduled;
                view.mode = Some(s.pool.into());
                view.decision = Some((at, s.decision));
                queues.push(list_of(s.pool), job_id);
                effects.push(Effect::Push(list_of(s.pool), job_id));
            }
            JobEvent::Deferred(d) => {
                remove(QueueName::Pending, effects);
                view.status = Status::Deferred;
                view.mode = Some(Mode::Defer);
                view.decision = Some((at, d.decision));
                view.defer_deadline = Some(d.defer_deadline);
                view.planned_release = d.planned_release;
                let score = d.defer_deadline.timestamp();
                queues.deferred.insert(job_id, score);
                effects.push(Effect::Defer(job_id, score));
            }
            JobEvent::Released(_) => {
                remove(QueueName::Deferred, effects);
                view.status = Status::Queued;
                queues.pending.push(job_id);
                effects.push(Effect::Push(QueueName::Pending, job_id));
            }
            JobEvent::Started(s) => {
                if let Some(Stage::Running(pool)) = Some(next.stage) {
                    remove(list_of(pool), effects);
                }
                view.status = Status::Running;
                view.worker = Some(s.worker);
                view.started_at = Some(at);
            }
            JobEvent::Completed(c) => {
                view.status = Status::Done;
                view.finished_at = Some(at);
                counters.completed += 1;
                counters.duration_ms_sum += c.duration_ms;
                counters.energy_kwh += c.energy_kwh;
                counters.emissions_kg += c.emissions_kg;
                counters.baseline_emissions_kg += c.baseline_emissions_kg;
                view.completed = Some(c);
            }
            JobEvent::Failed(f) => {
                counters.failed_attempts += 1;
                view.error = Some(f.error);
                if let Stage::Waiting(pool) = next.stage {
                    view.status = Status::Scheduled;
                    queues.push(list_of(pool), job_id);
                    effects.push(Effect::Push(list_of(pool), job_id));
                }
            }
            JobEvent::Cancelled(c) => {
                for q in QueueName::ALL {
                    remove(q, effects);
                }
                view.status = Status::Cancelled;
                view.error = Some(c.reason);
                view.finished_at = Some(at);
            }
            JobEvent::DeadLettered(d) => {
                view.status = Status::DeadLetter;
                view.error = Some(d.reason);
                view.finished_at = Some(at);
            }
        }
        if view.status != before {
            counters.move_status(Some(before), view.status);
        }
        if let Some(mode) = view.mode {
            counters.move_mode(mode_before, mode);
        }
        effects.push(Effect::Job(job_id, changed));
        Ok(())
    }

    /// A job's view.
    pub fn job(&self, id: &Uuid) -> Option<&JobView> {
        self.jobs.get(id).map(|v| &**v)
    }

    /// Job ids ordered as the `jobs:index` sorted set orders them (submission ms, then id).
    pub fn index_order(&self) -> Vec<(i64, Uuid)> {
        let mut all: Vec<(i64, Uuid)> = self
            .jobs
            .values()
            .map(|j| (j.created_at.timestamp_millis(), j.job_id))
            .collect();
        all.sort_unstable();
        all
    }
}

/// An error and its causes on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Some errors repeat their source's text in their own; say it once.
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}
