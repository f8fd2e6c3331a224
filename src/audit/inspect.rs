//! `carbonq inspect`: one job with its history, the queues, the stats and who writes the log.

use std::io::Write;

use serde::Serialize;
use uuid::Uuid;

use super::AuditError;
use crate::clock::format_time;
use crate::projections::queries;
use crate::store::{EventStore, RedisStore};

#[derive(Serialize)]
struct EventRow {
    stream_id: String,
    recorded_at: String,
    job_version: Option<u64>,
    r#type: String,
    summary: String,
}

#[derive(Serialize)]
struct JobReport {
    job: std::collections::BTreeMap<String, String>,
    events: Vec<EventRow>,
}

/// `inspect job <id>`: the job's hash and its full event history.
pub async fn job(
    store: &RedisStore,
    id: Uuid,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), AuditError> {
    let mut conn = store.connection();
    let hash = queries::job_hash(&mut conn, store.keys(), &id).await?;
    let history = EventStore::Redis(store.clone()).job_history(id).await?;
    if hash.is_none() && history.is_empty() {
        return Err(AuditError::JobNotFound(id));
    }
    let events: Vec<EventRow> = history
        .into_iter()
        .map(|(sid, entry)| match entry {
            Ok(e) => EventRow {
                stream_id: sid.to_string(),
                recorded_at: format_time(e.meta.recorded_at),
                job_version: Some(e.meta.job_version),
                r#type: e.event.type_name().to_owned(),
                summary: e.event.describe(),
            },
            Err(err) => EventRow {
                stream_id: sid.to_string(),
                recorded_at: String::new(),
                job_version: None,
                r#type: "(undecodable)".into(),
                summary: crate::projections::error_chain(&err),
            },
        })
        .collect();
    let report = JobReport {
        job: hash.unwrap_or_default(),
        events,
    };
    if json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "job:{id}")?;
    for (k, v) in &report.job {
        writeln!(out, "  {k:<30} {v}")?;
    }
    writeln!(
        out,
        "\n{:<22} {:<25} {:>3} {:<16} WHAT",
        "STREAM ID", "RECORDED", "VER", "EVENT"
    )?;
    for e in &report.events {
        writeln!(
            out,
            "{:<22} {:<25} {:>3} {:<16} {}",
            e.stream_id,
            e.recorded_at,
            e.job_version.map(|v| v.to_string()).unwrap_or_default(),
            e.r#type,
            e.summary
        )?;
    }
    Ok(())
}

/// `inspect queues`: depth and head of each queue.
pub async fn queues(store: &RedisStore, json: bool, out: &mut dyn Write) -> Result<(), AuditError> {
    let report = queries::queues(&mut store.connection(), store.keys()).await?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{:<10} {:>8}  NEXT OUT", "QUEUE", "DEPTH")?;
    for q in &report {
        let head = match (&q.head, q.head_score) {
            (Some(h), Some(s)) => format!("{h} (deadline {s})"),
            (Some(h), None) => h.clone(),
            _ => "-".into(),
        };
        writeln!(out, "{:<10} {:>8}  {head}", q.queue, q.depth)?;
    }
    Ok(())
}

/// `inspect stats`: the `/stats` document.
pub async fn stats(store: &RedisStore, json: bool, out: &mut dyn Write) -> Result<(), AuditError> {
    let s = queries::stats(&mut store.connection(), store.keys()).await?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &s)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "jobs: {}", s.jobs.total_jobs)?;
    for (k, v) in &s.jobs.counts_by_status {
        writeln!(out, "  status {k:<12} {v}")?;
    }
    for (k, v) in &s.jobs.counts_by_mode {
        writeln!(out, "  mode   {k:<12} {v}")?;
    }
    if s.jobs.retired_jobs > 0 {
        writeln!(out, "  {:<19} {}", "retired", s.jobs.retired_jobs)?;
    }
    writeln!(out, "queues:")?;
    for (k, v) in &s.queue_depths {
        writeln!(out, "  {k:<19} {v}")?;
    }
    writeln!(
        out,
        "completed: {} (mean {:.1} ms), failed attempts: {}",
        s.performance.completed_jobs, s.performance.avg_duration_ms, s.performance.failed_attempts
    )?;
    writeln!(
        out,
        "energy: {:.3} kWh, emissions: {:.3} kg CO2, baseline {:.3} kg, saved {:.3} kg",
        s.sustainability.total_energy_kwh,
        s.sustainability.total_emissions_kg,
        s.sustainability.baseline_emissions_kg,
        s.sustainability.saved_kg
    )?;
    match store.lease_holder().await? {
        Some((holder, left)) => writeln!(
            out,
            "written by: {holder} (lease expires in {:.1} s unless renewed)",
            left.as_secs_f64()
        )?,
        None => writeln!(out, "written by: nobody (no carbonq serve holds this log)")?,
    }
    Ok(())
}
