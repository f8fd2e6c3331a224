//! The retention actor: once a finished job has been kept for the configured time, it appends
//! the job's `JobRetired` summary; the store deletes the job's other entries and its index in
//! the step that appends it, and the projection page then deletes its hash, index member and
//! idempotency entry. The cumulative counters keep what the job added (the summary carries it),
//! so `/stats` totals and a rebuild from the trimmed log stay what they were; the job itself is
//! gone (`GET /jobs/{id}` answers 404) and its idempotency key is free again. Once twice
//! `summaries_kept` summaries have gathered, all but the newest are summed into one
//! `RetiredJobsSummed` entry that replaces them the same way. As BullMQ's `removeOnComplete` and
//! RQ's `result_ttl`, so that the log, the read models and the service's memory stop growing
//! with every job ever run.

use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::journal::{JobAppend, JournalError};
use super::services::Services;
use crate::events::{JobEvent, StreamId};
use crate::projections::{Contribution, ReadModel, Status};

/// Most jobs retired in one store call; a sweep that finds more goes on at once.
const BATCH: usize = 1_000;

/// Most summaries summed into one entry (the append script deletes them in one `XDEL`, whose
/// arguments Lua must unpack onto its stack).
const MAX_SUMMED: usize = 5_000;

/// How often the actor looks: a look that finds nothing due reads one entry of the model.
const EVERY: Duration = Duration::from_secs(1);

/// How long, and how many, finished jobs are kept, and how many summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Kept at most this long after they finished (`None`: no time limit).
    pub keep_for: Option<Duration>,
    /// At most this many finished jobs kept, the newest (`None`: no count limit).
    pub keep_at_most: Option<usize>,
    /// The newest this many retired jobs keep a summary each; once twice as many have one, the
    /// older ones are summed into one entry.
    pub summaries_kept: usize,
}

/// The entry that sums the oldest summaries of `model` once it holds at least twice `kept`,
/// leaving the newest `kept` (at most [`MAX_SUMMED`] at once), with the ids it replaces.
pub fn summing(model: &ReadModel, kept: usize) -> Option<(JobEvent, Vec<StreamId>)> {
    let held = model.unsummed.len();
    if held < kept.saturating_mul(2) {
        return None;
    }
    let oldest = model.unsummed.iter().take((held - kept).min(MAX_SUMMED));
    let mut sum = Contribution::default();
    let mut ids = Vec::new();
    for (id, c) in oldest {
        sum.add(c);
        ids.push(*id);
    }
    let through = *ids.last()?;
    Some((JobEvent::RetiredSummed(sum.summed(through)), ids))
}

/// The finished jobs of `model` that are due to retire, in the order they finished, at most `n`,
/// with the summaries that will replace their histories: those that ended at or before
/// `cutoff`, and the oldest beyond the newest `keep_at_most`. Reads only the jobs it returns
/// (and any already retired among them), not every job held.
pub fn due(
    model: &ReadModel,
    cutoff: Option<DateTime<Utc>>,
    keep_at_most: Option<usize>,
    n: usize,
) -> Vec<(Uuid, JobEvent)> {
    let c = &model.counters;
    let held = [Status::Done, Status::Cancelled, Status::DeadLetter]
        .into_iter()
        .map(|s| c.status(s))
        .sum::<u64>();
    let held = usize::try_from(held).unwrap_or(usize::MAX);
    let mut over = keep_at_most.map_or(0, |most| held.saturating_sub(most));
    let mut due = Vec::new();
    for (at, id) in &model.finished {
        let Some(summary) = model.job(id).and_then(|view| view.retirement()) else {
            continue; // retired already
        };
        if over == 0 && cutoff.is_none_or(|cutoff| *at > cutoff) {
            break;
        }
        over = over.saturating_sub(1);
        due.push((*id, JobEvent::Retired(summary)));
        if due.len() == n {
            break;
        }
    }
    due
}

/// Retires finished jobs once they have been kept long enough.
pub struct Retention {
    svc: Services,
    policy: RetentionPolicy,
    sweeping: bool,
}

impl Retention {
    /// A retention actor over `svc`'s journal.
    pub fn new(svc: Services, policy: RetentionPolicy) -> Retention {
        Retention {
            svc,
            policy,
            sweeping: false,
        }
    }

    /// Appends the summaries of the jobs due now, or else sums old summaries; looks again at
    /// once when there was more to do than one store call takes.
    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.sweeping {
            return;
        }
        let now = self.svc.clock.now();
        let cutoff = self.policy.keep_for.map(|keep| {
            let keep = TimeDelta::from_std(keep).unwrap_or(TimeDelta::MAX);
            now.checked_sub_signed(keep)
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        });
        let correlation_id = self.svc.ids.next(now);
        let (appends, more) = {
            let model = self.svc.journal.model();
            let due = due(&model, cutoff, self.policy.keep_at_most, BATCH);
            if !due.is_empty() {
                let full = due.len() == BATCH;
                let appends = due
                    .into_iter()
                    .map(|(job_id, event)| JobAppend {
                        job_id,
                        events: vec![event],
                        correlation_id,
                        replaces: Vec::new(),
                    })
                    .collect();
                (appends, full)
            } else if let Some((event, replaces)) = summing(&model, self.policy.summaries_kept) {
                let append = JobAppend {
                    // The summed entry belongs to no job.
                    job_id: Uuid::nil(),
                    events: vec![event],
                    correlation_id,
                    replaces,
                };
                (vec![append], true)
            } else {
                return;
            }
        };
        self.sweeping = true;
        let journal = self.svc.journal.clone();
        let appended = async move { journal.append_all(appends).await };
        ctx.spawn(appended.into_actor(self).map(move |results, act, ctx| {
            act.sweeping = false;
            let failed: Vec<&JournalError> =
                results.iter().filter_map(|r| r.as_ref().err()).collect();
            if let Some(e) = failed.first() {
                // Tried again at the next sweep: nothing was deleted for these.
                tracing::warn!(failed = failed.len(), error = %e, "could not retire some finished jobs");
            } else if more {
                act.sweep(ctx);
            }
        }));
    }
}

impl Actor for Retention {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // A panic in a sweep is contained: the next sweep reads the journal's model afresh.
        ctx.run_interval(EVERY, |act, ctx| {
            if super::contained("retention", || act.sweep(ctx)).is_none() {
                act.sweeping = false;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::events::sample::{history, interleaved};
    use crate::events::{EventMeta, JobEvent, RecordedEvent, StreamId};

    fn folded(jobs: u64) -> ReadModel {
        let histories: Vec<_> = (0..jobs).map(history).collect();
        let start = Utc.with_ymd_and_hms(2026, 3, 16, 9, 0, 0).unwrap();
        let mut model = ReadModel::default();
        for recorded in interleaved(&histories, start) {
            model.apply(recorded, &mut Vec::new()).expect("legal");
        }
        model
    }

    #[test]
    fn given_finished_jobs_when_some_ended_before_the_cutoff_then_only_those_are_due_oldest_first()
    {
        let model = folded(40);
        let all = due(&model, Some(DateTime::<Utc>::MAX_UTC), None, usize::MAX);
        let finished = model
            .jobs
            .values()
            .filter(|v| v.status.is_terminal())
            .count();
        assert_eq!(all.len(), finished);
        assert!(finished > 30, "most sample histories finish");
        let ends: Vec<DateTime<Utc>> = all
            .iter()
            .map(|(_, e)| match e {
                JobEvent::Retired(r) => r.finished_at,
                _ => panic!("not a summary"),
            })
            .collect();
        assert!(ends.windows(2).all(|w| w[0] <= w[1]));
        let cutoff = ends[10];
        let some = due(&model, Some(cutoff), None, usize::MAX);
        assert_eq!(some.len(), ends.iter().filter(|t| **t <= cutoff).count());
        assert_eq!(due(&model, Some(cutoff), None, 3).len(), 3);
        assert!(due(&model, Some(DateTime::<Utc>::MIN_UTC), None, usize::MAX).is_empty());
        assert!(due(&model, None, None, usize::MAX).is_empty());
    }

    #[test]
    fn given_a_count_limit_then_the_oldest_beyond_it_are_due_whatever_their_age() {
        let model = folded(40);
        let all = due(&model, Some(DateTime::<Utc>::MAX_UTC), None, usize::MAX);
        let over = due(&model, None, Some(all.len() - 5), usize::MAX);
        assert_eq!(over.len(), 5);
        assert!(over.iter().zip(&all).all(|(a, b)| a.0 == b.0), "the oldest");
        assert!(due(&model, None, Some(all.len()), usize::MAX).is_empty());
        // Either limit makes a job due: the old ones, and then the count.
        let cutoff = match &all[2].1 {
            JobEvent::Retired(r) => r.finished_at,
            _ => unreachable!(),
        };
        assert_eq!(
            due(&model, Some(cutoff), Some(all.len() - 1), usize::MAX).len(),
            3
        );
        assert_eq!(
            due(&model, Some(cutoff), Some(all.len() - 5), usize::MAX).len(),
            5
        );
    }

    #[test]
    fn old_summaries_are_summed_once_twice_as_many_as_are_kept_have_gathered() {
        let mut model = ReadModel::default();
        let summary = |n: u64| {
            let mut c = Contribution {
                jobs: 1,
                completed: n % 2,
                ..Contribution::default()
            };
            c.energy_kwh.add(0.1 * n as f64);
            (StreamId::new(n, 0), c)
        };
        model.unsummed.extend((1..=7).map(summary));
        assert!(summing(&model, 4).is_none(), "7 < 2 × 4");
        model.unsummed.push_back(summary(8));
        let (event, ids) = summing(&model, 4).expect("8 ≥ 2 × 4");
        assert_eq!(
            ids,
            (1..=4).map(|n| StreamId::new(n, 0)).collect::<Vec<_>>()
        );
        let JobEvent::RetiredSummed(s) = event else {
            panic!("not a sum")
        };
        assert_eq!((s.jobs, s.completed, s.through.as_str()), (4, 2, "4-0"));
        assert_eq!(s.energy_nkwh, 1_000_000_000, "0.1 + 0.2 + 0.3 + 0.4 kWh");
        model.unsummed.extend((9..=20_000).map(summary));
        assert_eq!(summing(&model, 4).unwrap().1.len(), MAX_SUMMED);
    }

    #[test]
    fn given_the_due_jobs_retired_then_they_leave_the_finished_queue_and_are_due_no_more() {
        let mut model = folded(40);
        let before = model.finished.len();
        let first = due(&model, Some(DateTime::<Utc>::MAX_UTC), None, 10);
        for (i, (job_id, event)) in first.iter().enumerate() {
            let version = model.job(job_id).unwrap().lifecycle.version + 1;
            let recorded = RecordedEvent {
                stream_id: StreamId::new(10_000 + i as u64, 0),
                meta: EventMeta {
                    event_id: Uuid::from_u128(10_000 + i as u128),
                    job_id: *job_id,
                    job_version: version,
                    schema_version: 1,
                    recorded_at: DateTime::<Utc>::MAX_UTC,
                    correlation_id: Uuid::nil(),
                    causation_id: None,
                },
                event: event.clone(),
            };
            model.apply(recorded, &mut Vec::new()).expect("legal");
        }
        assert_eq!(model.finished.len(), before - 10);
        let next = due(&model, Some(DateTime::<Utc>::MAX_UTC), None, usize::MAX);
        assert!(next
            .iter()
            .all(|(id, _)| !first.iter().any(|(f, _)| f == id)));
        assert_eq!(next.len(), before - 10);
    }
}
