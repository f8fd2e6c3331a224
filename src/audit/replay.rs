//! `carbonq replay`: reads the log, checks every event against the job state machine, and
//! optionally shows the state at a moment or rebuilds the read models and diffs them.

use std::io::Write;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::{AuditError, Verdict};
use crate::clock::format_time;
use crate::events::StreamId;
use crate::projections::redis_writer::{delete_all, diff, write_all, KeyDiff};
use crate::projections::runner::fold_log;
use crate::projections::{Anomaly, ReadModel};
use crate::store::keys::QueueName;
use crate::store::{Bound, EventStore, RedisStore};

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// First entry (id or time).
    pub from: Bound,
    /// Last entry (id or time).
    pub to: Bound,
    /// Show jobs and queues as they were at this time.
    pub as_of: Option<DateTime<Utc>>,
    /// Rebuild into a scratch namespace and diff against the live read models.
    pub rebuild: bool,
    /// Machine-readable output.
    pub json: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

#[derive(Serialize)]
struct AnomalyRow {
    stream_id: String,
    job_id: Option<String>,
    problem: String,
}

#[derive(Serialize)]
struct JobRow {
    job_id: String,
    status: &'static str,
    mode: Option<&'static str>,
    updated_at: String,
}

#[derive(Serialize)]
struct StateAt {
    as_of: String,
    queue_depths: Vec<(&'static str, usize)>,
    jobs: Vec<JobRow>,
}

#[derive(Serialize)]
struct ReplayReport {
    entries: u64,
    applied: u64,
    jobs: usize,
    /// Jobs the log holds only a `JobRetired` summary of, or whose summary it reached.
    retired: u64,
    anomalies: Vec<AnomalyRow>,
    state: Option<StateAt>,
    rebuild: Option<RebuildReport>,
    ok: bool,
}

#[derive(Serialize)]
struct RebuildReport {
    checkpoint: String,
    entries_behind: u64,
    differences: Vec<KeyDiff>,
}

fn bar(total: u64, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {pos}/{len} entries ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("replaying");
    bar
}

/// Runs `replay` and writes its report to `out`.
pub async fn replay(
    store: &RedisStore,
    options: &ReplayOptions,
    out: &mut dyn Write,
) -> Result<Verdict, AuditError> {
    let log = EventStore::Redis(store.clone());
    let keys = store.keys().clone();
    let mut to = options.to;
    let mut live_checkpoint = None;
    if options.rebuild {
        // Compare like with like: rebuild up to where the live projections have got.
        let mut conn = store.connection();
        let c: Option<String> = redis::cmd("GET")
            .arg(keys.checkpoint())
            .query_async(&mut conn)
            .await
            .map_err(crate::store::StoreError::from)?;
        let c = c
            .and_then(|c| c.parse::<StreamId>().ok())
            .unwrap_or(StreamId::ZERO);
        live_checkpoint = Some(c);
        to = Bound::Id(c);
    }
    let total = log.entry_count().await?;
    let progress = bar(total, options.progress);
    let mut entries = 0u64;
    let (model, anomalies) = if live_checkpoint == Some(StreamId::ZERO) {
        (ReadModel::default(), Vec::new())
    } else {
        fold_log(&log, options.from, to, options.as_of, |n| {
            entries += n;
            progress.inc(n);
        })
        .await?
    };
    progress.finish_and_clear();

    let state = options.as_of.map(|t| state_at(&model, t));
    let rebuild = match live_checkpoint {
        Some(checkpoint) => {
            let scratch = keys.scratch(&format!("rebuild-{}", uuid::Uuid::now_v7()));
            let mut conn = store.connection();
            write_all(&mut conn, &scratch, &model).await?;
            let jobs: Vec<uuid::Uuid> = model.jobs.keys().copied().collect();
            let found = diff(&mut conn, &keys, &scratch, &jobs).await;
            delete_all(&mut conn, &scratch, &model).await?;
            let after = log
                .read_after(checkpoint, 1_000_000, None)
                .await
                .map(|e| e.len() as u64)
                .unwrap_or(0);
            Some(RebuildReport {
                checkpoint: checkpoint.to_string(),
                entries_behind: after,
                differences: found?,
            })
        }
        None => None,
    };
    let ok = anomalies.is_empty() && rebuild.as_ref().is_none_or(|r| r.differences.is_empty());
    let report = ReplayReport {
        entries,
        applied: model.applied,
        jobs: model.jobs.len(),
        retired: model.counters.retired(),
        anomalies: anomalies.iter().map(row).collect(),
        state,
        rebuild,
        ok,
    };
    if options.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        print_human(&report, out)?;
    }
    Ok(if ok {
        Verdict::Clean
    } else {
        Verdict::Findings
    })
}

fn row(a: &Anomaly) -> AnomalyRow {
    AnomalyRow {
        stream_id: a.stream_id.to_string(),
        job_id: a.job_id.map(|j| j.to_string()),
        problem: a.problem.clone(),
    }
}

fn state_at(model: &ReadModel, t: DateTime<Utc>) -> StateAt {
    let mut jobs: Vec<JobRow> = model
        .index_order()
        .into_iter()
        .filter_map(|(_, id)| model.job(&id))
        .map(|j| JobRow {
            job_id: j.job_id.to_string(),
            status: j.status.as_str(),
            mode: j.mode.map(|m| m.as_str()),
            updated_at: format_time(j.updated_at),
        })
        .collect();
    jobs.truncate(10_000);
    StateAt {
        as_of: format_time(t),
        queue_depths: QueueName::ALL
            .iter()
            .map(|q| (q.as_str(), model.queues.depth(*q)))
            .collect(),
        jobs,
    }
}

fn print_human(r: &ReplayReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "replayed {} entries: {} events applied, {} jobs{}, {} anomalies",
        r.entries,
        r.applied,
        r.jobs,
        if r.retired > 0 {
            format!(" and {} retired", r.retired)
        } else {
            String::new()
        },
        r.anomalies.len()
    )?;
    if !r.anomalies.is_empty() {
        writeln!(out, "\n{:<22} {:<38} PROBLEM", "STREAM ID", "JOB")?;
        for a in &r.anomalies {
            writeln!(
                out,
                "{:<22} {:<38} {}",
                a.stream_id,
                a.job_id.as_deref().unwrap_or("-"),
                a.problem
            )?;
        }
    }
    if let Some(s) = &r.state {
        writeln!(out, "\nstate as of {}", s.as_of)?;
        for (q, n) in &s.queue_depths {
            writeln!(out, "  queue:{q:<9} {n}")?;
        }
        writeln!(
            out,
            "\n{:<38} {:<12} {:<6} UPDATED",
            "JOB", "STATUS", "MODE"
        )?;
        for j in &s.jobs {
            writeln!(
                out,
                "{:<38} {:<12} {:<6} {}",
                j.job_id,
                j.status,
                j.mode.unwrap_or("-"),
                j.updated_at
            )?;
        }
    }
    if let Some(rb) = &r.rebuild {
        writeln!(
            out,
            "\nrebuilt the read models up to the live checkpoint {} ({} newer entries not yet projected)",
            rb.checkpoint, rb.entries_behind
        )?;
        if rb.differences.is_empty() {
            writeln!(
                out,
                "diff: none, the live read models equal a rebuild from the log"
            )?;
        } else {
            writeln!(out, "diff: {} differences\n", rb.differences.len())?;
            writeln!(out, "{:<52} {:<28} {:<24} REBUILT", "KEY", "FIELD", "LIVE")?;
            for d in &rb.differences {
                writeln!(
                    out,
                    "{:<52} {:<28} {:<24} {}",
                    d.key,
                    d.field,
                    d.live.as_deref().unwrap_or("(missing)"),
                    d.rebuilt.as_deref().unwrap_or("(missing)")
                )?;
            }
        }
    }
    writeln!(out, "\n{}", if r.ok { "OK" } else { "FINDINGS" })
}
