//! Load benchmark for `carbonq serve`: drives `POST /jobs` from this (second) process over
//! loopback with many requests in flight, then waits until every job is done.
//!
//! Prints accepted jobs/s with p50/p99 latency, and the end-to-end rate from the first
//! submission to the last completion of zero-length simulated jobs. Run it through
//! `scripts/bench-intake.sh`, which starts a private Redis and puts BullMQ beside it.
//!
//! Each of the `IN_FLIGHT` connections is a bare hyper HTTP/1.1 connection that keeps one
//! request in flight: the client's own CPU shares the machine with the server and Redis, so it
//! is kept as small as the peer's (ioredis pipelines `add()` calls on one socket).
//!
//! Environment: `CARBONQ_URL` (e.g. http://127.0.0.1:8123), `JOBS` (20000), `IN_FLIGHT` (50),
//! `END_TO_END` (true; false measures intake only, for a server with no workers, like BullMQ's
//! `add()` test, which runs none either), `BATCH` (1: one job per `POST /jobs`; more: that many
//! per `POST /jobs/batch`, as BullMQ's end-to-end test produces with `addBulk`).

#![allow(clippy::print_stdout)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One keep-alive HTTP/1.1 connection to `authority`.
async fn connect(authority: &str) -> Result<SendRequest<Full<Bytes>>, Error> {
    let stream = tokio::net::TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn request(
    sender: &mut SendRequest<Full<Bytes>>,
    authority: &str,
    method: &str,
    path: &str,
    body: Bytes,
) -> Result<(hyper::StatusCode, Bytes), Error> {
    sender.ready().await?;
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))?;
    let response = sender.send_request(req).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Jobs the server has completed so far (`/stats`' cumulative count, which retention does not
/// lower as it retires done jobs).
async fn completed(sender: &mut SendRequest<Full<Bytes>>, authority: &str) -> Result<usize, Error> {
    let (_, body) = request(sender, authority, "GET", "/stats", Bytes::new()).await?;
    let stats: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(stats["performance"]["completed_jobs"].as_u64().unwrap_or(0) as usize)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let base: String = env("CARBONQ_URL", "http://127.0.0.1:8000".to_owned());
    let authority = base
        .strip_prefix("http://")
        .ok_or("CARBONQ_URL must start with http://")?
        .trim_end_matches('/')
        .to_owned();
    let jobs: usize = env("JOBS", 20_000);
    let in_flight: usize = env("IN_FLIGHT", 50);
    let batch: usize = env("BATCH", 1).max(1);
    let job = r#"{"type":"inference","urgency":"critical","duration_s":0}"#;
    // The body for `n` jobs, and the path it goes to.
    let request_for = move |n: usize| -> (&'static str, Bytes) {
        if batch == 1 {
            return ("/jobs", Bytes::from_static(job.as_bytes()));
        }
        let list = vec![job; n].join(",");
        (
            "/jobs/batch",
            Bytes::from(format!(r#"{{"jobs":[{list}]}}"#)),
        )
    };
    let full = request_for(batch);

    let mut connections = Vec::with_capacity(in_flight);
    for _ in 0..in_flight {
        connections.push(connect(&authority).await?);
    }
    // Jobs the server had completed before this run, so that a run against a server that ran
    // others before counts only its own.
    let completed_before = completed(&mut connect(&authority).await?, &authority).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = connections
        .into_iter()
        .map(|mut sender| {
            let (next, authority, full) = (Arc::clone(&next), authority.clone(), full.clone());
            tokio::spawn(async move {
                let (mut latencies, mut accepted, mut failed) = (Vec::new(), 0usize, 0usize);
                loop {
                    let first = next.fetch_add(batch, Ordering::Relaxed);
                    if first >= jobs {
                        break;
                    }
                    let n = batch.min(jobs - first);
                    let (path, body) = if n == batch {
                        full.clone()
                    } else {
                        request_for(n)
                    };
                    let t = Instant::now();
                    match request(&mut sender, &authority, "POST", path, body).await {
                        Ok((status, _)) if status.is_success() => {
                            latencies.push(t.elapsed());
                            accepted += n;
                        }
                        _ => failed += n,
                    }
                }
                (latencies, accepted, failed)
            })
        })
        .collect();
    let (mut latencies, mut accepted, mut failed) = (Vec::with_capacity(jobs), 0, 0);
    for task in tasks {
        let (l, a, f) = task.await?;
        latencies.extend(l);
        accepted += a;
        failed += f;
    }
    let intake = started.elapsed();
    latencies.sort();
    if accepted == 0 {
        return Err(format!("all {failed} submissions failed").into());
    }
    let how = if batch == 1 {
        "POST /jobs".to_owned()
    } else {
        format!("jobs in POST /jobs/batch of {batch}")
    };
    println!("carbonq intake: {jobs} {how}, {in_flight} in flight, {failed} failed");
    println!(
        "carbonq accepted: {:.0} jobs/s  p50 {:.2} ms  p99 {:.2} ms (per request)",
        accepted as f64 / intake.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
    if !env("END_TO_END", true) {
        return Ok(());
    }
    // End to end: until /stats counts every accepted job as completed.
    // A connection of its own: one left idle while the jobs were sent may have been closed.
    let mut stats_sender = connect(&authority).await?;
    loop {
        let done = completed(&mut stats_sender, &authority)
            .await?
            .saturating_sub(completed_before);
        if done >= accepted {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(format!("only {done} of {accepted} jobs done after 600 s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let e2e = started.elapsed();
    println!(
        "carbonq end-to-end: {:.0} jobs/s (submission to completion, zero-length jobs)",
        accepted as f64 / e2e.as_secs_f64()
    );
    Ok(())
}
