//! `kill -9` of `carbonq serve` under load, then a restart: every accepted job reaches exactly
//! one terminal state, running ones as a new attempt, and the read models equal a rebuild. And
//! Redis restarting under a running `serve`: the same, without restarting `serve`. And one
//! `serve` per log: a second is refused, one whose lease another process took stops.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use carbonq::events::{JobEvent, RecordedEvent};
use carbonq::store::{Bound, EventStore};

use crate::support::{redis_store, AnswerCutter, TestRedis};

struct Server {
    child: Child,
    base: String,
    /// Its standard error, kept in a file (a pipe nobody reads could fill and stall it).
    stderr: tempfile::NamedTempFile,
}

impl Server {
    /// What it wrote to standard error so far.
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// Waits for it to exit with code 2 (carbonq's for an error), having said `words`.
    async fn fails_saying(&mut self, words: &str) {
        assert_eq!(
            self.exit_code_within(Duration::from_secs(20)).await,
            Some(2)
        );
        let said = self.stderr();
        assert!(said.contains(words), "{said}");
    }

    /// Sends it `SIGTERM`, and returns its exit code once it exits (within `limit`).
    async fn terminate(&mut self, limit: Duration) -> Option<i32> {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        self.exit_code_within(limit).await
    }

    /// Waits up to `limit` for it to exit, and returns its exit code.
    async fn exit_code_within(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "carbonq serve did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn serve(redis: &TestRedis) -> Server {
    serve_with(&redis.url(), &[]).await
}

/// `carbonq serve` on the Redis at `url` with these settings (environment variables) too, once
/// it answers.
async fn serve_with(url: &str, settings: &[(&str, &str)]) -> Server {
    let mut server = start_serve(url, settings);
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{}/health", server.base))
        .await
        .is_err()
    {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("carbonq serve exited with {status}: {}", server.stderr());
        }
        assert!(Instant::now() < deadline, "carbonq serve did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server
}

/// `carbonq serve` started, not yet answering.
fn start_serve(url: &str, settings: &[(&str, &str)]) -> Server {
    let port = free_port();
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_carbonq"))
        .args([
            "serve",
            "--redis",
            url,
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .env("CARBONQ__WORKERS__FAST", "3")
        .env("CARBONQ__WORKERS__ECO", "1")
        .env("CARBONQ__GRID__SIGNAL", "fixed")
        .env("CARBONQ__GRID__FIXED_GCO2_PER_KWH", "150")
        .env("CARBONQ__EXECUTORS__DEFAULT__SPEEDUP", "100")
        .env("CARBONQ__LOG__LEVEL", "warn")
        .envs(settings.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr.reopen().unwrap())
        .spawn()
        .expect("start carbonq serve");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        stderr,
    }
}

async fn done(base: &str) -> u64 {
    let stats: serde_json::Value = reqwest::get(format!("{base}/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["jobs"]["counts_by_status"]["DONE"]
        .as_u64()
        .unwrap_or(0)
}

/// Job `i` of a test's load: a short training job.
fn job(i: u64) -> serde_json::Value {
    serde_json::json!({"type": "training", "urgency": "normal", "duration_s": 20 + i % 7})
}

/// Submits `jobs` in one `POST /jobs/batch`, which must be accepted.
async fn submit_batch(client: &reqwest::Client, base: &str, jobs: Vec<serde_json::Value>) {
    let r = client
        .post(format!("{base}/jobs/batch"))
        .json(&serde_json::json!({ "jobs": jobs }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// Posts `body` to `url` until it is accepted, every refusal meanwhile a 503 (Redis away) and
/// the last before `deadline`.
async fn post_until_accepted(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    deadline: Instant,
) {
    loop {
        let r = client.post(url).json(body).send().await.unwrap();
        if r.status().is_success() {
            return;
        }
        assert_eq!(r.status(), 503, "{}", r.text().await.unwrap());
        assert!(Instant::now() < deadline, "never accepted again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `/stats` counts three jobs done: work is under way, some jobs done, others
/// running or queued.
async fn wait_for_work_under_way(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while done(base).await < 3 {
        assert!(Instant::now() < deadline, "no job finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every event in the log, in order.
async fn log_events(store: &EventStore) -> Vec<RecordedEvent> {
    let entries = store
        .read_range(Bound::Open, Bound::Open, usize::MAX)
        .await
        .unwrap();
    entries.into_iter().map(|(_, e)| e.unwrap()).collect()
}

/// Submissions in the log.
async fn submissions(store: &EventStore) -> u64 {
    let events = log_events(store).await;
    let submitted = events
        .iter()
        .filter(|r| matches!(r.event, JobEvent::Submitted(_)))
        .count();
    submitted as u64
}

/// `carbonq replay --rebuild` exits 0: the live read models equal a rebuild from the log.
fn assert_read_models_equal_a_rebuild(redis: &TestRedis) {
    let out = Command::new(env!("CARGO_BIN_EXE_carbonq"))
        .args(["replay", "--rebuild", "--redis", &redis.url()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn after_kill_9_and_restart_every_accepted_job_completes_exactly_once() {
    let redis = TestRedis::start();
    let first = serve(&redis).await;
    let client = reqwest::Client::new();
    let jobs = 30;
    // Twenty one by one, ten in one batch.
    for i in 0..20 {
        let r = client
            .post(format!("{}/jobs", first.base))
            .json(&job(i))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    submit_batch(&client, &first.base, (20..jobs).map(job).collect()).await;
    // Kill it while work is under way.
    wait_for_work_under_way(&first.base).await;
    drop(first); // SIGKILL

    let second = serve(&redis).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while done(&second.base).await < jobs {
        assert!(
            Instant::now() < deadline,
            "jobs did not all finish after the restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let store = EventStore::Redis(redis_store(&redis).await);
    let mut completions: HashMap<uuid::Uuid, usize> = HashMap::new();
    let mut lost_runs = 0;
    for e in log_events(&store).await {
        match e.event {
            JobEvent::Completed(_) => *completions.entry(e.meta.job_id).or_default() += 1,
            JobEvent::Failed(f) if f.error.starts_with("worker lost") => {
                assert!(f.will_retry);
                lost_runs += 1;
            }
            _ => {}
        }
    }
    assert_eq!(completions.len() as u64, jobs);
    assert!(completions.values().all(|n| *n == 1), "{completions:?}");
    // The kill caught workers mid-run: those runs were failed and retried as a new attempt.
    assert!(lost_runs >= 1, "no run was interrupted by the kill");

    // Let the restarted projections settle, then audit.
    drop(second);
    assert_read_models_equal_a_rebuild(&redis);
}

/// Redis restarting under load (its data kept), with `carbonq serve` left running: requests that
/// meet the restart are answered 503, the service connects again by itself, and every job in the
/// log, from before and after, completes exactly once; the read models equal a rebuild.
#[tokio::test]
async fn after_redis_restarts_under_load_every_job_completes_exactly_once() {
    let mut redis = TestRedis::start_durable();
    let server = serve(&redis).await;
    let client = reqwest::Client::new();
    submit_batch(&client, &server.base, (0..30).map(job).collect()).await;
    wait_for_work_under_way(&server.base).await;

    redis.restart(); // while jobs run, wait in queues and are being booked
    let accepted = 40;
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = format!("{}/jobs", server.base);
    for i in 30..accepted {
        post_until_accepted(&client, &url, &job(i), deadline).await;
    }

    // A submission Redis stored but could not answer is in the log too, and must run as well.
    let store = EventStore::Redis(redis_store(&redis).await);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let submitted = submissions(&store).await.max(accepted);
        if done(&server.base).await >= submitted {
            break;
        }
        assert!(Instant::now() < deadline, "jobs did not all finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut completions: HashMap<uuid::Uuid, usize> = HashMap::new();
    for e in log_events(&store).await {
        match e.event {
            JobEvent::Submitted(_) => {
                completions.entry(e.meta.job_id).or_default();
            }
            JobEvent::Completed(_) => *completions.entry(e.meta.job_id).or_default() += 1,
            _ => {}
        }
    }
    assert!(completions.len() as u64 >= accepted, "{completions:?}");
    assert!(completions.values().all(|n| *n == 1), "{completions:?}");

    drop(server);
    assert_read_models_equal_a_rebuild(&redis);
}

/// A Redis that keeps nothing on disk, killed under load and started again empty: `serve`
/// notices the log went back in time, appends nothing to the empty one, says what was lost and
/// exits 2, instead of serving jobs from memory that the log no longer holds.
#[tokio::test]
async fn a_redis_that_comes_back_empty_stops_serve_with_code_2_saying_what_was_lost() {
    let mut redis = TestRedis::start();
    let mut server = serve(&redis).await;
    let client = reqwest::Client::new();
    submit_batch(&client, &server.base, (0..30).map(job).collect()).await;
    wait_for_work_under_way(&server.base).await;

    redis.restart(); // nothing kept: the stream is gone
    server.fails_saying("the log went back in time").await;
    // Human logs colour field names: strip the escapes to read them.
    let said = server
        .stderr()
        .replace("\u{1b}[3m", "")
        .replace("\u{1b}[0m", "")
        .replace("\u{1b}[2m", "");
    assert!(said.contains("jobs_lost=30"), "{said}");

    let store = EventStore::Redis(redis_store(&redis).await);
    assert!(
        log_events(&store).await.is_empty(),
        "appended to the emptied log"
    );
    // A restart serves what the log holds: nothing.
    let server = serve(&redis).await;
    let (status, _) = get_json(&server.base, &format!("/jobs/{}", uuid::Uuid::nil())).await;
    assert_eq!(status, 404);
}

/// A frozen Redis (`SIGSTOP`) answers nothing: a request that needs it gets 503
/// `store_unavailable` with `Retry-After` once `redis.command_timeout_ms` has passed, instead
/// of hanging; once Redis goes on, intake and workers carry on and every job completes once.
#[tokio::test]
async fn a_frozen_redis_gives_503_within_the_command_timeout_and_serve_carries_on_after() {
    let redis = TestRedis::start();
    let server = serve_with(
        &redis.url(),
        &[("CARBONQ__REDIS__COMMAND_TIMEOUT_MS", "500")],
    )
    .await;
    let client = reqwest::Client::new();
    submit_batch(&client, &server.base, (0..10).map(job).collect()).await;
    wait_for_work_under_way(&server.base).await;

    redis.freeze();
    for (method, path) in [("POST", "/jobs"), ("GET", "/stats")] {
        let asked = Instant::now();
        let r = client
            .request(method.parse().unwrap(), format!("{}{path}", server.base))
            .json(&job(99))
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .unwrap();
        let took = asked.elapsed();
        let retry_after = r.headers().get("retry-after").cloned();
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            body["error"], "store_unavailable",
            "{method} {path}: {body}"
        );
        assert!(retry_after.is_some(), "{method} {path}: no Retry-After");
        assert!(
            took < Duration::from_secs(5),
            "{method} {path} took {took:?}"
        );
    }
    redis.thaw();

    // Accepted again; the 503 submission may or may not have been stored (it is looked up).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = client
            .post(format!("{}/jobs", server.base))
            .json(&job(100))
            .send()
            .await
            .unwrap();
        if r.status().is_success() {
            break;
        }
        assert!(Instant::now() < deadline, "never accepted again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let store = EventStore::Redis(redis_store(&redis).await);
    let deadline = Instant::now() + Duration::from_secs(30);
    while done(&server.base).await < submissions(&store).await {
        assert!(Instant::now() < deadline, "jobs did not all finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut completed: HashMap<uuid::Uuid, usize> = HashMap::new();
    for e in log_events(&store).await {
        if let JobEvent::Completed(_) = e.event {
            *completed.entry(e.meta.job_id).or_default() += 1;
        }
    }
    assert!(
        completed.len() >= 11 && completed.values().all(|n| *n == 1),
        "{completed:?}"
    );
    drop(server);
    assert_read_models_equal_a_rebuild(&redis);
}

/// Redis killed (`SIGKILL`) and restarted with `appendfsync always`, again and again under
/// load: after each round, once every job is done, the read models equal a rebuild. A page whose
/// `EXEC` Redis applied and could not answer must not be applied again on the retry (a second
/// `LPUSH` left a finished job in `queue:FAST` for good).
#[tokio::test]
async fn redis_killed_again_and_again_under_load_leaves_read_models_equal_a_rebuild_each_round() {
    let mut redis = TestRedis::start_durable();
    let server = serve(&redis).await;
    let client = reqwest::Client::new();
    let short = |i: u64| serde_json::json!({"type": "training", "urgency": "critical", "duration_s": 3 + i % 5});
    let mut pause = 17u64; // a fixed walk of waits, so that kills land at many points of a page
    for round in 0..8u64 {
        let jobs: Vec<_> = (round * 40..round * 40 + 40).map(short).collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("{}/jobs/batch", server.base);
        let batch = serde_json::json!({ "jobs": jobs });
        post_until_accepted(&client, &url, &batch, deadline).await;
        pause = (pause * 37 + 11) % 120;
        tokio::time::sleep(Duration::from_millis(pause)).await;
        redis.crash();

        let store = EventStore::Redis(redis_store(&redis).await);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let submitted = submissions(&store).await;
            match reqwest::get(format!("{}/stats", server.base)).await {
                Ok(r) if r.status().is_success() => {
                    let stats: serde_json::Value = r.json().await.unwrap();
                    let done = stats["jobs"]["counts_by_status"]["DONE"]
                        .as_u64()
                        .unwrap_or(0);
                    if done >= submitted {
                        break;
                    }
                }
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: jobs did not all finish"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The last page of the round may still be on its way.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_read_models_equal_a_rebuild(&redis);
    }
}

/// A fault the chaos test injects.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Redis stops answering for this long (`SIGSTOP`, then `SIGCONT`), ms.
    FreezeRedis(u64),
    /// Redis is killed (`SIGKILL`) and started again on its AOF (`appendfsync always`).
    CrashRedis,
    /// `serve` is killed (`SIGKILL`) and started again.
    CrashServe,
}

/// Submits `jobs` in one batch; the ids answered, or none if the batch was not acknowledged
/// (503, or `serve` down): it may or may not have been stored.
async fn try_submit(
    client: &reqwest::Client,
    base: &str,
    jobs: &[serde_json::Value],
) -> Vec<String> {
    let Ok(r) = client
        .post(format!("{base}/jobs/batch"))
        .json(&serde_json::json!({ "jobs": jobs }))
        .timeout(Duration::from_secs(10))
        .send()
        .await
    else {
        return Vec::new();
    };
    if !r.status().is_success() {
        return Vec::new();
    }
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    body["jobs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|j| j["job_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Chaos, bounded to seconds: under load, Redis frozen and thawed, Redis killed and restarted on
/// its AOF (`appendfsync always`), and `serve` killed and restarted, in a seeded random order
/// (`CARBONQ_CHAOS_SEED` picks another). At the end every acknowledged job, and every job the
/// log holds, has completed exactly once, and the read models equal a rebuild.
#[tokio::test]
async fn chaos_of_redis_freezes_and_crashes_and_serve_crashes_loses_and_doubles_no_job() {
    use rand::{Rng, SeedableRng};
    let seed: u64 = std::env::var("CARBONQ_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut redis = TestRedis::start_durable();
    // Each crash of serve fails the attempts it was running ("worker lost"): enough attempts
    // that no job runs out of them, so that every job must end DONE.
    let quick = [
        ("CARBONQ__REDIS__COMMAND_TIMEOUT_MS", "500"),
        ("CARBONQ__WORKERS__MAX_ATTEMPTS", "50"),
        ("CARBONQ__WORKERS__BACKOFF_S", "0.02"),
    ];
    let mut server = serve_with(&redis.url(), &quick).await;
    let client = reqwest::Client::new();
    let short = |i: u64| serde_json::json!({"type": "eval", "urgency": "critical", "duration_s": 2 + i % 7});
    let mut acknowledged: Vec<String> = Vec::new();
    let mut faults = Vec::new();
    for round in 0..12u64 {
        let jobs: Vec<_> = (round * 25..round * 25 + 25).map(short).collect();
        acknowledged.extend(try_submit(&client, &server.base, &jobs).await);
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..150))).await;
        let fault = match rng.random_range(0..3) {
            0 => Fault::FreezeRedis(rng.random_range(200..1500)),
            1 => Fault::CrashRedis,
            _ => Fault::CrashServe,
        };
        faults.push(fault);
        eprintln!(
            "{} chaos round {round}: {fault:?}",
            chrono::Utc::now().format("%H:%M:%S%.3f")
        );
        match fault {
            Fault::FreezeRedis(ms) => {
                redis.freeze();
                // Submissions meet the frozen Redis: 503 within the command timeout.
                acknowledged.extend(try_submit(&client, &server.base, &jobs[..5]).await);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                redis.thaw();
            }
            Fault::CrashRedis => redis.crash(),
            Fault::CrashServe => {
                eprintln!("{}", server.stderr());
                drop(server);
                server = serve_with(&redis.url(), &quick).await;
            }
        }
    }

    let store = EventStore::Redis(redis_store(&redis).await);
    let deadline = Instant::now() + Duration::from_secs(60);
    let completions = loop {
        let mut completions: HashMap<String, usize> = HashMap::new();
        let mut last: HashMap<String, &'static str> = HashMap::new();
        for e in log_events(&store).await {
            last.insert(e.meta.job_id.to_string(), e.event.type_name());
            match e.event {
                JobEvent::Submitted(_) => {
                    completions.entry(e.meta.job_id.to_string()).or_default();
                }
                JobEvent::Completed(_) => {
                    *completions.entry(e.meta.job_id.to_string()).or_default() += 1
                }
                _ => {}
            }
        }
        if completions.values().all(|n| *n >= 1) {
            break completions;
        }
        let unfinished: Vec<_> = completions
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(id, _)| (id, last[id]))
            .collect();
        assert!(
            Instant::now() < deadline,
            "seed {seed}, faults {faults:?}: jobs did not all finish: {unfinished:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        completions.values().all(|n| *n == 1),
        "seed {seed}, faults {faults:?}: a job completed twice: {completions:?}"
    );
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !completions.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "seed {seed}, faults {faults:?}: acknowledged and lost: {lost:?}"
    );
    assert!(
        acknowledged.len() >= 100,
        "seed {seed}: too little load: {}",
        acknowledged.len()
    );
    // Stopped as an operator would: the last pages are written before it exits.
    assert_eq!(server.terminate(Duration::from_secs(20)).await, Some(0));
    eprintln!("{}", server.stderr());
    assert_read_models_equal_a_rebuild(&redis);
    eprintln!(
        "chaos seed {seed}: {} faults {faults:?}, {} jobs acknowledged, {} in the log, each done once",
        faults.len(),
        acknowledged.len(),
        completions.len()
    );
}

/// The value of the log's writer lease key, if any.
async fn lease_holder(redis: &TestRedis) -> Option<String> {
    let store = redis_store(redis).await;
    ::redis::cmd("GET")
        .arg(store.keys().writer_lease())
        .query_async(&mut store.connection())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_second_serve_on_the_same_log_is_refused_and_the_first_keeps_serving() {
    let redis = TestRedis::start();
    let mut first = serve(&redis).await;

    // A second one, on the same host, while the first is alive: refused at once, and says who.
    let mut second = start_serve(&redis.url(), &[]);
    let holder = format!(
        "is being written by carbonq serve pid {} on ",
        first.child.id()
    );
    second.fails_saying(&holder).await;

    // The first is untouched: it takes a job and runs it.
    let client = reqwest::Client::new();
    submit_batch(&client, &first.base, vec![job(0)]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while done(&first.base).await < 1 {
        assert!(Instant::now() < deadline, "the first serve stopped working");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Stopped cleanly, it gives the lease up: the next start need not wait for it to expire.
    assert!(lease_holder(&redis).await.is_some());
    assert_eq!(first.terminate(Duration::from_secs(30)).await, Some(0));
    assert_eq!(lease_holder(&redis).await, None);
}

#[tokio::test]
async fn a_serve_whose_lease_another_process_took_stops_at_once() {
    let redis = TestRedis::start();
    let mut server = serve_with(&redis.url(), &[("CARBONQ__REDIS__LEASE_TTL_S", "0.4")]).await;
    // Another process holds the log now, as one would that started after this one's lease
    // expired (this one paused, or cut off from Redis, for longer than the lease lasts).
    let store = redis_store(&redis).await;
    let _: () = ::redis::cmd("SET")
        .arg(store.keys().writer_lease())
        .arg("the other one")
        .query_async(&mut store.connection())
        .await
        .unwrap();
    server
        .fails_saying("another process took over the log; it is written by the other one")
        .await;
}

#[tokio::test]
async fn a_serve_that_fails_to_start_gives_its_lease_up() {
    let redis = TestRedis::start();
    // It takes the lease, catches the read models up, then finds no policy file.
    let mut server = start_serve(
        &redis.url(),
        &[(
            "CARBONQ__SCHEDULER__POLICY_FILE",
            "/nonexistent/policy.yaml",
        )],
    );
    server.fails_saying("policy.yaml").await;
    assert_eq!(lease_holder(&redis).await, None);
}

/// The case the lease's fencing is for: a `serve` cut off from Redis (Redis itself fine) for
/// longer than its lease, while another `serve` takes the log over and recovers its jobs. When
/// the link comes back the first one writes nothing more and stops; every job completes once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serve_cut_off_while_another_takes_over_writes_nothing_more_and_stops() {
    let redis = TestRedis::start();
    let link = AnswerCutter::start(redis.socket());
    let lease = ("CARBONQ__REDIS__LEASE_TTL_S", "1");
    let mut first = serve_with(&link.url(), &[lease]).await;
    let client = reqwest::Client::new();
    let jobs = 30;
    submit_batch(&client, &first.base, (0..jobs).map(job).collect()).await;
    wait_for_work_under_way(&first.base).await;

    link.sever(true);
    // Its lease lapses unrenewed; a second serve takes the log over and carries on.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let second = serve_with(&redis.url(), &[lease]).await;
    link.sever(false);

    first
        .fails_saying("another process took over the log")
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while done(&second.base).await < jobs {
        assert!(Instant::now() < deadline, "jobs did not all finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let store = EventStore::Redis(redis_store(&redis).await);
    let mut completions: HashMap<uuid::Uuid, usize> = HashMap::new();
    for e in log_events(&store).await {
        if let JobEvent::Completed(_) = e.event {
            *completions.entry(e.meta.job_id).or_default() += 1;
        }
    }
    assert_eq!(completions.len() as u64, jobs);
    assert!(completions.values().all(|n| *n == 1), "{completions:?}");

    drop(second);
    assert_read_models_equal_a_rebuild(&redis);
}

/// `GET` `path` on `base` as JSON, with its status.
async fn get_json(base: &str, path: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

/// `/stats` once it counts `n` jobs retired (within 30 s).
async fn stats_once_retired(base: &str, n: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, stats) = get_json(base, "/stats").await;
        if stats["jobs"]["retired_jobs"] == n {
            return stats;
        }
        assert!(Instant::now() < deadline, "not {n} retired: {stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Retention: jobs kept one second after they finish are retired, and all but the newest four
/// summaries are summed once eight have gathered. The log holds those summaries and the sums
/// and nothing else, the jobs' hashes, index and idempotency entries are gone, `/stats` keeps
/// every total (and keeps it across a restart, folded from the trimmed log), the read models
/// equal a rebuild, and a retired job's idempotency key makes a new job.
#[tokio::test]
async fn finished_jobs_past_their_retention_leave_only_a_summary_each_and_every_total() {
    let redis = TestRedis::start();
    let keep = [
        ("CARBONQ__RETENTION__KEEP_FINISHED_S", "1"),
        ("CARBONQ__RETENTION__SUMMARIES_KEPT", "4"),
    ];
    let server = serve_with(&redis.url(), &keep).await;
    let client = reqwest::Client::new();
    let jobs: Vec<_> = (0..20)
        .map(|i| {
            serde_json::json!({"type": "training", "urgency": "normal", "duration_s": 1 + i % 3,
                "idempotency_key": format!("nightly-{i}")})
        })
        .collect();
    let reply: serde_json::Value = client
        .post(format!("{}/jobs/batch", server.base))
        .json(&serde_json::json!({ "jobs": jobs }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = reply["jobs"][0]["job_id"].as_str().unwrap().to_owned();
    let stats = stats_once_retired(&server.base, 20).await;
    assert_eq!(stats["jobs"]["total_jobs"], 20);
    assert_eq!(stats["performance"]["completed_jobs"], 20);
    assert!(
        stats["sustainability"]["total_energy_kwh"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let in_a_status: u64 = stats["jobs"]["counts_by_status"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(in_a_status, 0, "{stats}");

    let store = EventStore::Redis(redis_store(&redis).await);
    // The last sum may still be on its way.
    let deadline = Instant::now() + Duration::from_secs(10);
    let events = loop {
        let events = log_events(&store).await;
        if events.len() < 8 {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "not summed: {} entries",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (mut summaries, mut summed) = (0, 0);
    for e in &events {
        match &e.event {
            JobEvent::Retired(_) => summaries += 1,
            JobEvent::RetiredSummed(s) => summed += s.jobs,
            other => panic!("{other:?} left in the log"),
        }
    }
    assert!((4..8).contains(&summaries), "{summaries} summaries");
    assert_eq!(summaries + summed, 20);
    assert_eq!(
        get_json(&server.base, &format!("/jobs/{first}")).await.0,
        404
    );
    let (_, page) = get_json(&server.base, "/jobs").await;
    assert_eq!(page["jobs"].as_array().map(Vec::len), Some(0), "{page}");
    let EventStore::Redis(redis_log) = &store else {
        unreachable!()
    };
    let (hash, index, keys): (u64, u64, u64) = redis::pipe()
        .exists(format!("job:{first}"))
        .zcard("jobs:index")
        .hlen("jobs:idempotency")
        .query_async(&mut redis_log.connection())
        .await
        .unwrap();
    assert_eq!((hash, index, keys), (0, 0, 0));
    assert_read_models_equal_a_rebuild(&redis);

    // Folded again from the trimmed log, the totals are the same.
    drop(server);
    let server = serve_with(&redis.url(), &[]).await;
    let (_, again) = get_json(&server.base, "/stats").await;
    assert_eq!(again["jobs"], stats["jobs"]);
    assert_eq!(again["sustainability"], stats["sustainability"]);
    assert_eq!(again["performance"], stats["performance"]);

    let (status, resubmitted) = {
        let r = client
            .post(format!("{}/jobs", server.base))
            .json(&serde_json::json!({"type": "training", "urgency": "normal",
                "idempotency_key": "nightly-0"}))
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<serde_json::Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 200, "{resubmitted}");
    assert_eq!(
        resubmitted["status"], "QUEUED",
        "a new job, not the retired one"
    );
    assert_ne!(resubmitted["job_id"].as_str(), Some(first.as_str()));
}

/// `kill -9` of a `serve` while it retires jobs (one finished job kept), then a restart: every
/// accepted job is counted once, done once, and the read models equal a rebuild (should the
/// kill fall between a summary and its page, the restart's fold of the summary deletes what is
/// left of the job's read models).
#[tokio::test]
async fn after_kill_9_while_retiring_every_job_is_counted_once_and_the_models_are_whole() {
    let redis = TestRedis::start();
    let keep = [
        ("CARBONQ__RETENTION__KEEP_FINISHED_MAX", "1"),
        ("CARBONQ__RETENTION__SUMMARIES_KEPT", "10"),
    ];
    let mut server = serve_with(&redis.url(), &keep).await;
    let client = reqwest::Client::new();
    let zero = |_| serde_json::json!({"type": "eval", "urgency": "critical", "duration_s": 0});
    for _ in 0..3 {
        submit_batch(&client, &server.base, (0..200).map(zero).collect()).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while get_json(&server.base, "/stats").await.1["jobs"]["retired_jobs"] == 0 {
        assert!(Instant::now() < deadline, "nothing retired");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let server = serve_with(&redis.url(), &keep).await;
    let stats = stats_once_retired(&server.base, 599).await;
    assert_eq!(stats["jobs"]["total_jobs"], 600);
    assert_eq!(stats["performance"]["completed_jobs"], 600);
    assert_eq!(stats["jobs"]["counts_by_status"]["DONE"], 1);
    drop(server);
    assert_read_models_equal_a_rebuild(&redis);
}

/// `SIGTERM` while Redis is away and jobs are under way: `serve` still stops, within its grace
/// period and a few seconds, and the next start, made while the restarted Redis may still be
/// loading its data (it waits for it), finishes every job, and the read models equal a rebuild.
/// (A projection writer left with pages it could not write no longer holds the stop up for ever;
/// that case needs a writer far behind the journal, which this test does not reliably make.)
#[tokio::test]
async fn sigterm_while_redis_is_away_still_stops_serve() {
    let mut redis = TestRedis::start_durable();
    let grace = [("CARBONQ__HTTP__SHUTDOWN_GRACE_S", "1")];
    let mut server = serve_with(&redis.url(), &grace).await;
    let client = reqwest::Client::new();
    submit_batch(&client, &server.base, (0..30).map(job).collect()).await;
    wait_for_work_under_way(&server.base).await;
    // A burst of short jobs, under way when Redis goes.
    let zero = |_| serde_json::json!({"type": "eval", "urgency": "critical", "duration_s": 0});
    submit_batch(&client, &server.base, (0..1000).map(zero).collect()).await;
    redis.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.terminate(Duration::from_secs(15)).await,
        Some(0),
        "{}",
        server.stderr()
    );

    redis.start_again();
    let server = serve_with(&redis.url(), &[]).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while done(&server.base).await < 1030 {
        assert!(
            Instant::now() < deadline,
            "jobs did not all finish after the restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server);
    assert_read_models_equal_a_rebuild(&redis);
}
