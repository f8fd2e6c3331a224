//! Load benchmark for `carbonq serve`: drives `POST /jobs` from this (second) process over
//! loopback with many requests in flight, then waits until every job is done.
//!
//! Prints accepted jobs/s with p50/p99 latency, and the end-to-end rate from the first
//! submission to the last completion of zero-length simulated jobs. Run it through
//! `scripts/bench-intake.sh`, which starts a private Redis and puts BullMQ beside it.
//!
//! Environment: `CARBONQ_URL` (e.g. http://127.0.0.1:8123), `JOBS` (20000), `IN_FLIGHT` (50).

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use futures::StreamExt;

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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base: String = env("CARBONQ_URL", "http://127.0.0.1:8000".to_owned());
    let jobs: usize = env("JOBS", 20_000);
    let in_flight: usize = env("IN_FLIGHT", 50);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(in_flight)
        .build()?;
    let body = serde_json::json!({"type": "inference", "urgency": "critical", "duration_s": 0});
    let started = Instant::now();
    let results: Vec<Result<Duration, String>> = futures::stream::iter(0..jobs)
        .map(|_| {
            let (client, body, url) = (client.clone(), body.clone(), format!("{base}/jobs"));
            async move {
                let t = Instant::now();
                let r = client
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("status {}", r.status()));
                }
                Ok(t.elapsed())
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let intake = started.elapsed();
    let mut latencies: Vec<Duration> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    let failed = results.len() - latencies.len();
    latencies.sort();
    let accepted = latencies.len();
    // End to end: until /stats counts every accepted job as done.
    loop {
        let stats: serde_json::Value = client
            .get(format!("{base}/stats"))
            .send()
            .await?
            .json()
            .await?;
        let done = stats["jobs"]["counts_by_status"]["DONE"]
            .as_u64()
            .unwrap_or(0) as usize;
        if done >= accepted {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(format!("only {done} of {accepted} jobs done after 600 s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let e2e = started.elapsed();
    println!("carbonq intake: {jobs} POST /jobs, {in_flight} in flight, {failed} failed");
    println!(
        "carbonq accepted: {:.0} jobs/s  p50 {:.2} ms  p99 {:.2} ms",
        accepted as f64 / intake.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
    println!(
        "carbonq end-to-end: {:.0} jobs/s (submission to completion, zero-length jobs)",
        accepted as f64 / e2e.as_secs_f64()
    );
    Ok(())
}
