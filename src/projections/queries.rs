//! Reads of the Redis read models, shaped for `inspect` and the HTTP API. None of them scans.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use uuid::Uuid;

use crate::store::keys::{KeySpace, QueueName};
use crate::store::{Connection, StoreError};

/// One queue's depth and the job a worker would take next.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueReport {
    /// `PENDING`, `FAST`, `ECO` or `DEFERRED`.
    pub queue: &'static str,
    /// Jobs in it.
    pub depth: u64,
    /// Next out (the oldest; for `DEFERRED`, the earliest deadline).
    pub head: Option<String>,
    /// For `DEFERRED`, the head's deadline in epoch seconds.
    pub head_score: Option<i64>,
}

/// Depth and head of each of the four queues, in one round trip.
pub async fn queues(
    conn: &mut Connection,
    keys: &KeySpace,
) -> Result<Vec<QueueReport>, StoreError> {
    let mut pipe = redis::pipe();
    for q in [QueueName::Pending, QueueName::Fast, QueueName::Eco] {
        pipe.llen(keys.queue(q)).lindex(keys.queue(q), -1);
    }
    let d = keys.queue(QueueName::Deferred);
    pipe.zcard(&d).zrange_withscores(&d, 0, 0);
    #[allow(clippy::type_complexity)]
    let (pn, ph, fname, fh, en, eh, dn, dh): (
        u64,
        Option<String>,
        u64,
        Option<String>,
        u64,
        Option<String>,
        u64,
        Vec<(String, i64)>,
    ) = pipe.query_async(conn).await?;
    let (p, f, e) = ((pn, ph), (fname, fh), (en, eh));
    let list = |queue: QueueName, (depth, head): (u64, Option<String>)| QueueReport {
        queue: queue.as_str(),
        depth,
        head,
        head_score: None,
    };
    let first = dh.into_iter().next();
    Ok(vec![
        list(QueueName::Pending, p),
        list(QueueName::Fast, f),
        list(QueueName::Eco, e),
        QueueReport {
            queue: QueueName::Deferred.as_str(),
            depth: dn,
            head: first.as_ref().map(|(id, _)| id.clone()),
            head_score: first.map(|(_, s)| s),
        },
    ])
}

/// The seed's `/stats` document, read from counters and queue lengths.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsReport {
    /// `pending`, `fast`, `eco`, `deferred` depths.
    pub queue_depths: BTreeMap<String, u64>,
    /// Job totals.
    pub jobs: JobTotals,
    /// Run times.
    pub performance: Performance,
    /// Energy and carbon.
    pub sustainability: Sustainability,
}

/// Job totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobTotals {
    /// Jobs ever submitted.
    pub total_jobs: u64,
    /// By status.
    pub counts_by_status: BTreeMap<String, u64>,
    /// By mode.
    pub counts_by_mode: BTreeMap<String, u64>,
    /// Finished jobs whose history retention deleted: in `total_jobs`, in no status or mode.
    pub retired_jobs: u64,
}

/// Run times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Performance {
    /// Mean run time of completed jobs.
    pub avg_duration_ms: f64,
    /// Completed jobs.
    pub completed_jobs: u64,
    /// Failed attempts.
    pub failed_attempts: u64,
}

/// Energy and carbon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sustainability {
    /// kg CO2 of completed jobs.
    pub total_emissions_kg: f64,
    /// kg CO2 had they run at submission.
    pub baseline_emissions_kg: f64,
    /// What deferral saved, kg.
    pub saved_kg: f64,
    /// kWh of completed jobs.
    pub total_energy_kwh: f64,
}

/// Reads the `/stats` document: one `HGETALL` and four lengths.
pub async fn stats(conn: &mut Connection, keys: &KeySpace) -> Result<StatsReport, StoreError> {
    let mut pipe = redis::pipe();
    pipe.hgetall(keys.stats());
    for q in [QueueName::Pending, QueueName::Fast, QueueName::Eco] {
        pipe.llen(keys.queue(q));
    }
    pipe.zcard(keys.queue(QueueName::Deferred));
    let (h, p, f, e, d): (HashMap<String, String>, u64, u64, u64, u64) =
        pipe.query_async(conn).await?;
    let num = |k: &str| h.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let int = |k: &str| h.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let group = |prefix: &str| {
        h.iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix(prefix)?;
                Some((name.to_owned(), v.parse().unwrap_or(0)))
            })
            .collect::<BTreeMap<String, u64>>()
    };
    let completed = int("completed");
    let (emissions, baseline) = (num("emissions_kg"), num("baseline_emissions_kg"));
    Ok(StatsReport {
        queue_depths: [("pending", p), ("fast", f), ("eco", e), ("deferred", d)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        jobs: JobTotals {
            total_jobs: int("total_jobs"),
            counts_by_status: group("status:"),
            counts_by_mode: group("mode:"),
            retired_jobs: int("retired"),
        },
        performance: Performance {
            avg_duration_ms: if completed == 0 {
                0.0
            } else {
                num("duration_ms_sum") / completed as f64
            },
            completed_jobs: completed,
            failed_attempts: int("failed_attempts"),
        },
        sustainability: Sustainability {
            total_emissions_kg: emissions,
            baseline_emissions_kg: baseline,
            saved_kg: baseline - emissions,
            total_energy_kwh: num("energy_kwh"),
        },
    })
}

/// A job's hash, or `None` when there is no such job.
pub async fn job_hash(
    conn: &mut Connection,
    keys: &KeySpace,
    id: &Uuid,
) -> Result<Option<BTreeMap<String, String>>, StoreError> {
    let h: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(keys.job(id))
        .query_async(conn)
        .await?;
    Ok((!h.is_empty()).then_some(h))
}
