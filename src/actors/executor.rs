//! How a worker runs a job: simulated (waits for the job's expected duration on the injected
//! clock) or a command from config for that job type, with the job's JSON on stdin. Clients name
//! a job type, never a command.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use super::submission::MAX_DURATION_S;
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

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What the job's record shows clients: the command's own last line of stderr, or a code
    /// such as `command_failed_to_start`. Never a path of the serve host.
    pub error: String,
    /// The full cause, kept in the log and the server's log only.
    pub detail: Option<String>,
}

impl Failure {
    /// A failure whose `error` is all there is to say.
    pub fn plain(error: String) -> Self {
        Failure {
            error,
            detail: None,
        }
    }

    /// A failure clients see as `code`, with `detail` for the log.
    pub fn coded(code: &str, detail: String) -> Self {
        Failure {
            error: code.to_owned(),
            detail: Some(detail),
        }
    }
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

    /// Runs one attempt; `Ok(result)` or why it failed.
    pub async fn run(
        &self,
        job_id: Uuid,
        attempt: u32,
        job: &JobSubmitted,
    ) -> Result<String, Failure> {
        let executor = self.by_type.get(&job.job_type).unwrap_or(&self.default);
        let duration = job.duration_s.unwrap_or(self.default_duration_s);
        match executor {
            Executor::Simulated { speedup } => {
                // Intake bounds durations; a log from before it did may hold any u64, which
                // would hold a worker for ever (or overflow the wait).
                if duration > MAX_DURATION_S {
                    return Err(Failure::coded(
                        "invalid_duration",
                        format!("duration_s {duration} is past the {MAX_DURATION_S} s bound"),
                    ));
                }
                let secs = duration as f64 / speedup.max(1e-9);
                let wait = Duration::try_from_secs_f64(secs).map_err(|e| {
                    Failure::coded("invalid_duration", format!("cannot wait {secs} s: {e}"))
                })?;
                tokio::time::sleep(wait).await;
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
) -> Result<String, Failure> {
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
    // A process group of its own, so that the processes the command starts end with it.
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env("CARBONQ_JOB_ID", job_id.to_string())
        .env("CARBONQ_ATTEMPT", attempt.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            Failure::coded(
                "command_failed_to_start",
                format!("cannot start {program}: {e}"),
            )
        })?;
    let group = child.id().map(ProcessGroup::of);
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.to_string().as_bytes()).await;
    }
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let ran = async {
        // The command's end is the attempt's end: what it left running is stopped, which also
        // closes the output it may still hold open.
        let exited = async {
            let status = child.wait().await;
            if let Some(group) = &group {
                group.kill();
            }
            status
        };
        let (status, out, err) = tokio::join!(exited, tail_of(stdout), tail_of(stderr));
        status.map(|s| (s, out, err))
    };
    let (status, out, err) = tokio::time::timeout(Duration::from_secs(timeout_s), ran)
        .await
        .map_err(|_| Failure::plain(format!("timed out after {timeout_s}s")))?
        .map_err(|e| Failure::coded("command_failed", format!("{program} failed: {e}")))?;
    if status.success() {
        let out = last_line(&out);
        Ok(if out.is_empty() { "ok".into() } else { out })
    } else {
        Err(Failure::plain(format!("{status}: {}", last_line(&err))))
    }
}

/// A command's process group: killed when the attempt ends however it ends (done, failed, timed
/// out, or dropped as the service stops), so no process it started outlives it and goes on
/// working while the job is retried.
struct ProcessGroup(Pid);

impl ProcessGroup {
    fn of(leader: u32) -> Self {
        ProcessGroup(Pid::from_raw(i32::try_from(leader).unwrap_or(i32::MAX)))
    }

    fn kill(&self) {
        // ESRCH: every process of the group has ended already.
        let _ = killpg(self.0, Signal::SIGKILL);
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Bytes of a command's output kept: its last line is its result (stdout) or error (stderr).
const TAIL: usize = 8 * 1024;

/// The last [`TAIL`] bytes `stream` writes, read as they come: a chatty job's output never piles
/// up in memory.
async fn tail_of(stream: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let Some(mut stream) = stream else {
        return Vec::new();
    };
    let mut tail = Vec::with_capacity(2 * TAIL);
    let mut chunk = [0u8; 8 * 1024];
    while let Ok(n @ 1..) = stream.read(&mut chunk).await {
        tail.extend_from_slice(&chunk[..n]);
        if tail.len() > TAIL {
            tail.drain(..tail.len() - TAIL);
        }
    }
    tail
}

/// The last line of `output`, trimmed, at most 500 characters.
fn last_line(output: &[u8]) -> String {
    String::from_utf8_lossy(output)
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .chars()
        .take(500)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Urgency;

    fn command(script: &str, timeout_s: u64) -> Executors {
        Executors {
            default: Executor::Command {
                program: "sh".into(),
                args: vec!["-c".into(), script.into()],
                timeout_s,
            },
            ..Executors::simulated()
        }
    }

    fn job() -> JobSubmitted {
        JobSubmitted {
            job_type: "train".into(),
            urgency: Urgency::Normal,
            deadline: None,
            duration_s: None,
            power_w: None,
            idempotency_key: None,
            tenant: None,
        }
    }

    /// Alive: its `/proc` entry exists and it is not a zombie waiting to be reaped.
    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    }

    #[tokio::test]
    async fn a_timed_out_command_is_stopped_with_every_process_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("sleep 60 & echo $! > {}; wait", pid_file.display());
        let result = command(&script, 1).run(Uuid::nil(), 1, &job()).await;
        assert_eq!(result, Err(Failure::plain("timed out after 1s".into())));
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while alive(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "sleep {pid} outlived its job"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_command_ends_when_it_exits_though_it_left_a_process_holding_its_output() {
        let result = command("sleep 60 & echo trained", 5)
            .run(Uuid::nil(), 1, &job())
            .await;
        assert_eq!(result, Ok("trained".into()));
    }

    #[tokio::test]
    async fn a_command_s_result_is_its_last_line_however_much_it_writes() {
        let script = "head -c 20000000 /dev/zero | tr '\\0' x; echo; echo trained";
        let result = command(script, 30).run(Uuid::nil(), 1, &job()).await;
        assert_eq!(result, Ok("trained".into()));
        let failing = "echo starting; echo 'out of memory' >&2; exit 3";
        let result = command(failing, 30).run(Uuid::nil(), 1, &job()).await;
        assert_eq!(
            result,
            Err(Failure::plain("exit status: 3: out of memory".into()))
        );
    }

    #[tokio::test]
    async fn only_the_tail_of_a_stream_is_kept() {
        let mut output = vec![b'x'; 3 * TAIL];
        output.extend_from_slice(b"\nlast line\n");
        let tail = tail_of(Some(&output[..])).await;
        assert_eq!(tail.len(), TAIL);
        assert_eq!(last_line(&tail), "last line");
    }

    #[tokio::test]
    async fn a_command_that_cannot_start_shows_clients_a_code_and_keeps_the_path_for_the_log() {
        let missing = Executors {
            default: Executor::Command {
                program: "/nowhere/train".into(),
                args: Vec::new(),
                timeout_s: 5,
            },
            ..Executors::simulated()
        };
        let failure = missing.run(Uuid::nil(), 1, &job()).await.unwrap_err();
        assert_eq!(failure.error, "command_failed_to_start");
        assert!(failure.detail.unwrap().contains("/nowhere/train"));
    }

    #[tokio::test]
    async fn a_duration_past_the_bound_fails_the_attempt_instead_of_panicking_or_holding_on() {
        let spec = |d| JobSubmitted {
            duration_s: Some(d),
            ..job()
        };
        for d in [u64::MAX, MAX_DURATION_S + 1] {
            let failure = Executors::simulated()
                .run(Uuid::nil(), 1, &spec(d))
                .await
                .unwrap_err();
            assert_eq!(failure.error, "invalid_duration");
        }
    }
}
