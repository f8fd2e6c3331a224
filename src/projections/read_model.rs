//! The pure fold from events to every read model, and the effects each event has on them.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use uuid::Uuid;

use super::counters::{Contribution, Counters};
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
    /// Delete the job's hash and index entry, and its idempotency entry when it has the key.
    Forget(Uuid, Option<String>),
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
    /// The `JobRetired` summaries in the log, in log order, with what each job added: the
    /// retention actor sums the oldest into one `RetiredJobsSummed`.
    pub unsummed: VecDeque<(StreamId, Contribution)>,
    /// Finished jobs still held, in the order they finished (retention takes them from the
    /// front; an entry whose job is gone is dropped when it reaches the front).
    pub finished: VecDeque<(DateTime<Utc>, Uuid)>,
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
        // A `JobRetired` that stands alone keeps the version it had after the job's own events,
        // which it replaced in the log.
        let summary = view.is_none() && matches!(event, JobEvent::Retired(_));
        if meta.job_version != next.version && !summary {
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
        match event {
            JobEvent::Retired(r) => {
                self.retire(stream_id, job_id, r, effects);
                return Ok(());
            }
            JobEvent::RetiredSummed(s) => return self.sum_retired(&s).map_err(anomaly),
            _ => {}
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
                JobEvent::Submitted(_)
                | JobEvent::Released(_)
                | JobEvent::Retired(_)
                | JobEvent::RetiredSummed(_) => FieldGroups::default(),
                JobEvent::Scheduled(_) | JobEvent::Deferred(_) => FieldGroups::DECISION,
                JobEvent::Started(_) => FieldGroups::RUN,
                JobEvent::Completed(_)
                | JobEvent::Failed(_)
                | JobEvent::Cancelled(_)
                | JobEvent::DeadLettered(_) => FieldGroups::OUTCOME,
            };
        match event {
            // Folded above.
            JobEvent::Submitted(_) | JobEvent::Retired(_) | JobEvent::RetiredSummed(_) => {}
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
                counters.complete(
                    c.duration_ms,
                    c.energy_kwh,
                    c.emissions_kg,
                    c.baseline_emissions_kg,
                );
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
            if view.status.is_terminal() {
                self.finished.push_back((at, job_id));
            }
        }
        if let Some(mode) = view.mode {
            counters.move_mode(mode_before, mode);
        }
        effects.push(Effect::Job(job_id, changed));
        Ok(())
    }

    /// Forgets a finished job. Its view, if the model holds one, leaves the per-status and
    /// per-mode counts (the totals keep what its events added); with none (the log held only
    /// this summary of it), the totals take what the summary says its events added. Either way
    /// the totals come out as a fold of its whole history would leave them.
    fn retire(
        &mut self,
        stream_id: StreamId,
        job_id: Uuid,
        r: JobRetired,
        effects: &mut Vec<Effect>,
    ) {
        let counters = &mut self.counters;
        let added = Contribution::of(&r);
        match self.jobs.remove(&job_id) {
            Some(view) => {
                counters.drop_status(view.status);
                if let Some(mode) = view.mode {
                    counters.drop_mode(mode);
                }
            }
            None => counters.add_retired(&added),
        }
        self.unsummed.push_back((stream_id, added));
        while let Some((_, id)) = self.finished.front() {
            if self.jobs.contains_key(id) {
                break;
            }
            self.finished.pop_front();
        }
        // The key is free again, unless it names another job.
        let key = r.idempotency_key.filter(|k| {
            if self.idempotency.get(k).is_some_and(|id| *id != job_id) {
                return false;
            }
            self.idempotency.remove(k);
            true
        });
        effects.push(Effect::Forget(job_id, key));
    }

    /// Folds the entry that replaced the summaries through `s.through`: the totals take what
    /// it sums less the summaries this fold has met (all of them in the log it was appended
    /// to, none in a log it trimmed, some if the log was read while it was trimmed).
    fn sum_retired(&mut self, s: &RetiredJobsSummed) -> Result<(), String> {
        let through: StreamId = s
            .through
            .parse()
            .map_err(|_| format!("bad `through` stream id {:?}", s.through))?;
        let mut met = Contribution::default();
        while let Some((id, c)) = self.unsummed.front() {
            if *id > through {
                break;
            }
            met.add(c);
            self.unsummed.pop_front();
        }
        self.counters
            .add_retired(&Contribution::of_summed(s).without(&met));
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

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::events::sample::{history, interleaved, retired_after};

    /// The entries of `jobs` sample jobs, interleaved one event per job per round; every third
    /// job retired at the end.
    fn log(jobs: u64) -> Vec<RecordedEvent> {
        let histories: Vec<Vec<JobEvent>> = (0..jobs)
            .map(|n| {
                let mut h = history(n);
                if n % 3 == 0 {
                    h.push(retired_after(&h));
                }
                h
            })
            .collect();
        interleaved(
            &histories,
            Utc.with_ymd_and_hms(2026, 3, 16, 9, 0, 0).unwrap(),
        )
    }

    /// What the store keeps of `whole`: of a retired job, its summary alone.
    fn trim(whole: &[RecordedEvent]) -> Vec<RecordedEvent> {
        let retired: Vec<Uuid> = whole
            .iter()
            .filter(|e| matches!(e.event, JobEvent::Retired(_)))
            .map(|e| e.meta.job_id)
            .collect();
        whole
            .iter()
            .filter(|e| {
                !retired.contains(&e.meta.job_id) || matches!(e.event, JobEvent::Retired(_))
            })
            .cloned()
            .collect()
    }

    fn fold(entries: impl IntoIterator<Item = RecordedEvent>) -> (ReadModel, Vec<Effect>) {
        let mut model = ReadModel::default();
        let mut effects = Vec::new();
        for e in entries {
            model.apply(e, &mut effects).expect("legal");
        }
        (model, effects)
    }

    #[test]
    fn a_log_trimmed_by_retention_folds_to_the_same_models_as_the_whole_log() {
        let whole = log(200);
        let retired: Vec<Uuid> = whole
            .iter()
            .filter(|e| matches!(e.event, JobEvent::Retired(_)))
            .map(|e| e.meta.job_id)
            .collect();
        assert!(retired.len() > 50);
        let trimmed = trim(&whole);
        assert!(trimmed.len() < whole.len() / 2 + whole.len() / 4);
        let (a, _) = fold(whole);
        let (b, effects) = fold(trimmed);
        assert_eq!(a.counters, b.counters);
        assert_eq!(a.counters.retired(), retired.len() as u64);
        assert_eq!(a.counters.total_jobs, 200);
        let in_statuses: u64 = a.counters.by_status.iter().sum();
        assert_eq!(in_statuses + a.counters.retired(), a.counters.total_jobs);
        assert_eq!(a.jobs, b.jobs);
        assert_eq!(a.idempotency, b.idempotency);
        assert!(retired.iter().all(|id| a.job(id).is_none()));
        // A summary alone still deletes whatever read models a crash may have left of the job.
        let forgotten = effects
            .iter()
            .filter(|e| matches!(e, Effect::Forget(..)))
            .count();
        assert_eq!(forgotten, retired.len());
    }

    /// The entry that sums the first `n` summaries of `entries`, placed after them all.
    fn summed(entries: &[RecordedEvent], n: usize) -> (RecordedEvent, Vec<StreamId>) {
        let mut sum = Contribution::default();
        let mut ids = Vec::new();
        for e in entries
            .iter()
            .filter(|e| matches!(e.event, JobEvent::Retired(_)))
        {
            if let JobEvent::Retired(r) = &e.event {
                if ids.len() < n {
                    sum.add(&Contribution::of(r));
                    ids.push(e.stream_id);
                }
            }
        }
        let last = entries.last().expect("entries");
        let entry = RecordedEvent {
            stream_id: last.stream_id.successor(),
            meta: EventMeta {
                job_id: Uuid::nil(),
                job_version: 1,
                ..last.meta.clone()
            },
            event: JobEvent::RetiredSummed(sum.summed(*ids.last().expect("summaries"))),
        };
        (entry, ids)
    }

    #[test]
    fn a_log_whose_summaries_were_summed_folds_to_the_same_totals_however_much_of_them_it_met() {
        let mut whole = log(200);
        let (entry, replaced) = summed(&whole, 40);
        whole.push(entry);
        let (a, _) = fold(whole.clone());
        assert_eq!(a.unsummed.len(), 67 - 40, "200 jobs, every third retired");
        // The log as the store leaves it (retired jobs' histories gone), and as a reader that
        // met some of the summaries before they were deleted sees it.
        let trimmed = trim(&whole);
        for met in [0, 1, 25, 39] {
            let read: Vec<RecordedEvent> = trimmed
                .iter()
                .filter(|e| !replaced[met..].contains(&e.stream_id))
                .cloned()
                .collect();
            assert_eq!(read.len(), trimmed.len() - (40 - met));
            let (b, _) = fold(read);
            assert_eq!(a.counters, b.counters, "met {met} of the summed summaries");
            assert_eq!(a.jobs, b.jobs);
            assert_eq!(a.unsummed, b.unsummed);
        }
        let (plain, _) = fold(log(200));
        assert_eq!(plain.counters, a.counters, "summing changes no total");
    }

    #[test]
    fn a_views_retirement_is_what_its_history_added_up_to() {
        let entries = log(60);
        let (mut model, mut effects) = (ReadModel::default(), Vec::new());
        for n in 0..60u64 {
            let id = Uuid::from_u128(u128::from(n) + 1);
            let h = history(n);
            let JobEvent::Retired(expected) = retired_after(&h) else {
                unreachable!()
            };
            for e in entries.iter().filter(|e| e.meta.job_id == id) {
                if matches!(e.event, JobEvent::Retired(_)) {
                    break;
                }
                model.apply(e.clone(), &mut effects).expect("legal");
            }
            let view = model.job(&id).expect("folded");
            match view.retirement() {
                Some(got) => assert_eq!(
                    JobRetired {
                        finished_at: expected.finished_at,
                        ..got
                    },
                    expected,
                    "job {n}"
                ),
                None => assert!(!view.status.is_terminal(), "job {n} finished"),
            }
        }
    }

    #[test]
    fn a_retired_job_with_events_after_its_summary_is_an_anomaly() {
        let whole = log(3);
        let (mut model, mut effects) = fold(whole.clone());
        let first = whole[0].clone();
        assert!(model.job(&first.meta.job_id).is_none(), "job 0 is retired");
        let late = RecordedEvent {
            stream_id: StreamId::new(1_000, 0),
            ..whole
                .iter()
                .find(|e| e.meta.job_id == first.meta.job_id && e.meta.job_version == 2)
                .unwrap()
                .clone()
        };
        assert!(model.apply(late, &mut effects).is_err());
    }
}
