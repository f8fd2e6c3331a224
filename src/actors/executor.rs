//! How a worker runs a job: simulated (waits for the job's expected duration on the injected
//! clock) or a command from config for that job type, with the job's JSON on stdin. Clients name
//! a job type, never a command.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::events::JobSubmitted;

/// One way of running jobs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Executor {
    /// Waits for the expected duration divided by `speedup`.
    Simulated {
        /// How much faster than real time.
        #[serde(default = "one")]
        speedup: f64,
    },
    /// Runs `program args...` with the job's JSON on stdin; exit 0 is success.
    Command {
        /// The program.
        program: String,
        /// Its arguments.
        #[serde(default)]
        args: Vec<String>,
        /// Longest run before it counts as failed, seconds.
        #[serde(default = "hour")]
        timeout_s: u64,
    },
}

fn one() -> f64 {
    1.0
}

fn hour() -> u64 {
    3600
}

/// The executor per job type, with a default.
#[derive(Debug, Clone)]
pub struct Executors {
    /// By job type.
    pub by_type: HashMap<String, Executor>,
    /// For every other type.
    pub default: Executor,
    /// Assumed run time when a job gives none, seconds.
    pub default_duration_s: u64,
}

impl Executors {
    /// Every job simulated at real speed.
    pub fn simulated() -> Self {
        Executors {
            by_type: HashMap::new(),
            default: Executor::Simulated { speedup: 1.0 },
            default_duration_s: 60,
        }
    }

    /// Runs one attempt; `Ok(result)` or `Err(error)`.
    pub async fn run(
        &self,
        job_id: Uuid,
        attempt: u32,
        job: &JobSubmitted,
    ) -> Result<String, String> {
        let executor = self.by_type.get(&job.job_type).unwrap_or(&self.default);
        let duration = job.duration_s.unwrap_or(self.default_duration_s);
        match executor {
            Executor::Simulated { speedup } => {
                let secs = duration as f64 / speedup.max(1e-9);
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                Ok("ok".into())
            }
            Executor::Command {
                program,
                args,
                timeout_s,
            } => run_command(program, args, *timeout_s, job_id, attempt, job).await,
        }
    }
}

async fn run_command(
    program: &str,
    args: &[String],
    timeout_s: u64,
    job_id: Uuid,
    attempt: u32,
    job: &JobSubmitted,
) -> Result<String, String> {
    let input = serde_json::json!({
        "job_id": job_id,
        "attempt": attempt,
        "type": job.job_type,
        "urgency": job.urgency,
        "deadline": job.deadline,
        "duration_s": job.duration_s,
        "power_w": job.power_w,
        "tenant": job.tenant,
    });
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env("CARBONQ_JOB_ID", job_id.to_string())
        .env("CARBONQ_ATTEMPT", attempt.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.to_string().as_bytes()).await;
    }
    let output = tokio::time::timeout(Duration::from_secs(timeout_s), child.wait_with_output())
        .await
        .map_err(|_| format!("timed out after {timeout_s}s"))?
        .map_err(|e| format!("{program} failed: {e}"))?;
    let tail = |b: &[u8]| {
        let s = String::from_utf8_lossy(b);
        s.lines()
            .last()
            .unwrap_or("")
            .trim()
            .chars()
            .take(500)
            .collect::<String>()
    };
    if output.status.success() {
        let out = tail(&output.stdout);
        Ok(if out.is_empty() { "ok".into() } else { out })
    } else {
        Err(format!("{}: {}", output.status, tail(&output.stderr)))
    }
}
