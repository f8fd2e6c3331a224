//! `carbonq replay` and `carbonq inspect` as a user runs them: the real binary, a private Redis.

use std::process::{Command, Output};

use carbonq::projections::runner::ProjectionRunner;
use carbonq::store::EventStore;

use crate::support::{append_sample_log, job, redis_store, TestRedis};

fn carbonq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_carbonq"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run carbonq")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn projected_log(server: &TestRedis, jobs: u64) {
    let store = redis_store(server).await;
    append_sample_log(&EventStore::Redis(store.clone()), jobs).await;
    ProjectionRunner::start(&store, store.keys().clone())
        .await
        .unwrap()
        .catch_up()
        .await
        .unwrap();
}

#[tokio::test]
async fn replay_rebuild_on_a_live_log_prints_an_empty_diff_and_exits_0() {
    let server = TestRedis::start();
    projected_log(&server, 50).await;
    let out = carbonq(&["replay", "--rebuild", "--redis", &server.url()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("diff: none"), "{}", text(&out));
    assert!(text(&out).contains("0 anomalies"), "{}", text(&out));
}

#[tokio::test]
async fn replay_rebuild_names_a_hand_changed_field_and_exits_non_zero() {
    let server = TestRedis::start();
    projected_log(&server, 50).await;
    let key = format!("job:{}", job(7));
    let store = redis_store(&server).await;
    redis::cmd("HSET")
        .arg(&key)
        .arg("status")
        .arg("DONE-ISH")
        .query_async::<()>(&mut store.connection())
        .await
        .unwrap();
    let out = carbonq(&["replay", "--rebuild", "--json", "--redis", &server.url()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diffs = report["rebuild"]["differences"].as_array().unwrap();
    assert_eq!(diffs.len(), 1, "{report:#}");
    assert_eq!(diffs[0]["key"], key.as_str());
    assert_eq!(diffs[0]["field"], "status");
    assert_eq!(diffs[0]["live"], "DONE-ISH");
    assert_eq!(report["ok"], false);
}

#[tokio::test]
async fn replay_reports_an_undecodable_entry_by_id_and_exits_non_zero() {
    let server = TestRedis::start();
    projected_log(&server, 3).await;
    let store = redis_store(&server).await;
    let bad: String = redis::cmd("XADD")
        .arg("events")
        .arg("*")
        .arg(&["type", "JobCompleted", "v", "2", "data", "garbage"])
        .query_async(&mut store.connection())
        .await
        .unwrap();
    let out = carbonq(&["replay", "--redis", &server.url()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&bad), "{}", text(&out));
    assert!(text(&out).contains("1 anomalies"), "{}", text(&out));
}

#[tokio::test]
async fn replay_as_of_shows_the_state_at_that_time() {
    let server = TestRedis::start();
    projected_log(&server, 4).await;
    // The sample log is recorded at 2023-03-15T12:00Z: before that nothing existed.
    let before = carbonq(&[
        "replay",
        "--json",
        "--as-of",
        "2023-03-15T11:00:00Z",
        "--redis",
        &server.url(),
    ]);
    let after = carbonq(&[
        "replay",
        "--json",
        "--as-of",
        "2023-03-15T13:00:00Z",
        "--redis",
        &server.url(),
    ]);
    let jobs = |o: &Output| {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["state"]["jobs"].as_array().unwrap().len()
    };
    assert_eq!(jobs(&before), 0);
    assert_eq!(jobs(&after), 4);
}

#[tokio::test]
async fn inspect_shows_a_job_with_its_history_the_queues_and_the_stats() {
    let server = TestRedis::start();
    projected_log(&server, 10).await;
    let id = job(7).to_string();
    let out = carbonq(&["inspect", "job", &id, "--json", "--redis", &server.url()]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["job"]["job_id"], id.as_str());
    let types: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types[0], "JobSubmitted");
    assert_eq!(*types.last().unwrap(), "JobCompleted");

    let queues = carbonq(&["inspect", "queues", "--redis", &server.url()]);
    assert!(text(&queues).contains("DEFERRED"), "{}", text(&queues));
    let stats = carbonq(&["inspect", "stats", "--json", "--redis", &server.url()]);
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(v["jobs"]["total_jobs"], 10);
    // Who writes the log: nobody here, then a serve that holds the lease.
    let writer = |out: &Output| {
        text(out)
            .lines()
            .find(|l| l.starts_with("written by: "))
            .map(str::to_owned)
    };
    let stats = carbonq(&["inspect", "stats", "--redis", &server.url()]);
    assert_eq!(
        writer(&stats).as_deref(),
        Some("written by: nobody (no carbonq serve holds this log)")
    );
    let store = redis_store(&server).await;
    let lease = store
        .take_lease(std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let stats = carbonq(&["inspect", "stats", "--redis", &server.url()]);
    let line = writer(&stats).unwrap_or_default();
    let me = format!("written by: carbonq serve pid {} on ", std::process::id());
    assert!(
        line.starts_with(&me) && line.contains("(lease expires in "),
        "{line}"
    );
    store.release_lease(&lease).await.unwrap();

    let missing = carbonq(&[
        "inspect",
        "job",
        &job(99).to_string(),
        "--redis",
        &server.url(),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("not found"), "{}", text(&missing));
}

#[test]
fn an_unreachable_redis_is_one_clear_line_not_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("unix://{}/nobody-home.sock", dir.path().display());
    let out = carbonq(&["inspect", "stats", "--redis", &url]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: cannot reach redis at unix://"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn a_simulated_day_recorded_into_redis_can_be_replayed_and_inspected() {
    let server = TestRedis::start();
    let out = tempfile::tempdir().unwrap();
    let sim = carbonq(&[
        "simulate",
        "--jobs",
        "50",
        "--json",
        "--out",
        out.path().to_str().unwrap(),
        "--redis",
        &server.url(),
    ]);
    assert!(sim.status.success(), "{}", text(&sim));
    let report: serde_json::Value = serde_json::from_slice(&sim.stdout).unwrap();
    assert_eq!(report["jobs"], 50);
    assert!(out.path().join("report.json").exists() && out.path().join("day.svg").exists());
    let replay = carbonq(&["replay", "--rebuild", "--redis", &server.url()]);
    assert!(replay.status.success(), "{}", text(&replay));
    let stats = carbonq(&["inspect", "stats", "--json", "--redis", &server.url()]);
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(v["jobs"]["total_jobs"], 50);
    assert_eq!(v["jobs"]["counts_by_status"]["DONE"], 50);
}

#[tokio::test]
async fn a_run_is_not_recorded_into_a_log_that_a_serve_is_writing() {
    let server = TestRedis::start();
    let store = redis_store(&server).await;
    // A live `serve` on this host holds the log (pid 1 always exists).
    let holder = carbonq::store::Holder {
        pid: 1,
        ..carbonq::store::Holder::this_process()
    };
    let _: () = redis::cmd("SET")
        .arg(store.keys().writer_lease())
        .arg(serde_json::to_string(&holder).unwrap())
        .query_async(&mut store.connection())
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let sim = carbonq(&[
        "simulate",
        "--jobs",
        "5",
        "--out",
        out.path().to_str().unwrap(),
        "--redis",
        &server.url(),
    ]);
    assert_eq!(sim.status.code(), Some(2), "{}", text(&sim));
    assert!(
        text(&sim).contains("is being written by carbonq serve pid 1 on"),
        "{}",
        text(&sim)
    );
    assert_eq!(EventStore::Redis(store).entry_count().await.unwrap(), 0);
}
