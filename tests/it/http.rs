//! The HTTP API in process (no port): the seed's calls, every refusal, idempotency, cancelling,
//! paging, Redis outages, and a snapshot of each endpoint's JSON.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use carbonq::actors::intake::Limits;
use carbonq::actors::journal::{Journal, ProjectedJournal};
use carbonq::clock::{ManualClock, SharedClock, SystemClock};
use carbonq::events::sample::one_of_each;
use carbonq::http::AppState;
use carbonq::ids::IdGen;
use carbonq::projections::ReadModel;
use carbonq::store::{AppendRequest, Bound, EventStore, RedisStore};
use chrono::{TimeDelta, Utc};
use insta::internals::Content;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::app::{
    app, json_body, log_len, start_state, AppSettings, BATCH_BODY_LIMIT, BODY_LIMIT, MAX_BATCH,
};
use crate::support::{redis_store_at, set_maxmemory, AnswerCutter, TestRedis};

/// At most `n` jobs in PENDING; at most 1,000 waiting in all.
fn pending_at_most(n: usize) -> Limits {
    Limits {
        max_pending: n,
        max_waiting: 1000,
    }
}

/// A private Redis, the actors on it, and the state the routes share.
struct TestApi {
    /// Keeps the projection writer running.
    _projected: Option<ProjectedJournal>,
    redis: Option<TestRedis>,
    store: RedisStore,
    state: web::Data<AppState>,
}

impl TestApi {
    /// Everything running, with the read models kept as `carbonq serve` keeps them.
    async fn start() -> TestApi {
        Self::start_with(true).await
    }

    /// Everything running; the read models are kept only if `project`.
    async fn start_with(project: bool) -> TestApi {
        Self::start_limited(project, pending_at_most(1000)).await
    }

    /// Everything running, with intake answering busy at `limits`.
    async fn start_limited(project: bool, limits: Limits) -> TestApi {
        let server = TestRedis::start();
        Self::start_on(
            server,
            project,
            limits,
            Arc::new(SystemClock),
            IdGen::Random,
        )
        .await
    }

    /// Everything running on `server`, on this clock and these job ids.
    async fn start_on(
        server: TestRedis,
        project: bool,
        limits: Limits,
        clock: SharedClock,
        ids: IdGen,
    ) -> TestApi {
        let url = server.url();
        Self::start_at(server, &url, project, limits, clock, ids).await
    }

    /// As [`TestApi::start_on`], reaching `server` at `url` (through a proxy, say).
    async fn start_at(
        server: TestRedis,
        url: &str,
        project: bool,
        limits: Limits,
        clock: SharedClock,
        ids: IdGen,
    ) -> TestApi {
        let store = redis_store_at(url).await;
        // As `carbonq serve` does it: the journal hands each batch to the projection writer.
        let projected = if project {
            Some(
                ProjectedJournal::start(&store)
                    .await
                    .expect("projections start"),
            )
        } else {
            None
        };
        let journal = match &projected {
            Some(p) => p.journal.clone(),
            None => Journal::start(EventStore::Redis(store.clone()), ReadModel::default()),
        };
        let settings = AppSettings {
            fast_workers: 2,
            limits,
            clock,
            ids,
        };
        TestApi {
            _projected: projected,
            redis: Some(server),
            state: start_state(&store, journal, settings).await,
            store,
        }
    }

    /// How many `JobSubmitted` events the log holds.
    async fn submissions_in_log(&self) -> usize {
        EventStore::Redis(self.store.clone())
            .read_range(Bound::Open, Bound::Open, 100_000)
            .await
            .expect("XRANGE")
            .into_iter()
            .filter(|(_, e)| {
                e.as_ref()
                    .is_ok_and(|r| r.event.type_name() == "JobSubmitted")
            })
            .count()
    }

    /// Restarts the Redis server, keeping its data (it must have been started durable).
    fn restart_redis(&mut self) {
        self.redis.as_mut().expect("redis is running").restart();
    }

    /// Kills the Redis server.
    fn stop_redis(&mut self) {
        self.redis.take();
    }
}

/// An answer: status, `Retry-After`, JSON body (`null` when empty).
#[derive(Debug)]
struct Reply {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

async fn send<S, R, B>(app: &S, req: R) -> Reply
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(app, req).await;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().expect("ascii header").to_owned());
    Reply {
        status,
        retry_after,
        body: json_body(response).await,
    }
}

fn get(uri: &str) -> TestRequest {
    TestRequest::get().uri(uri)
}

fn submit(body: &Value) -> TestRequest {
    TestRequest::post().uri("/jobs").set_json(body)
}

fn raw_submit(content_type: Option<&str>, body: &str) -> TestRequest {
    let req = TestRequest::post()
        .uri("/jobs")
        .set_payload(body.to_owned());
    match content_type {
        Some(ct) => req.insert_header((header::CONTENT_TYPE, ct)),
        None => req,
    }
}

/// Asks `uri` until `ready` holds for a 200 answer, for up to ten seconds; returns that body.
/// The projection runner and the workers run in the background, so reads converge.
async fn wait_for<S, R, B>(
    app: &S,
    uri: &str,
    make: impl Fn(TestRequest) -> R,
    ready: impl Fn(&Value) -> bool,
) -> Value
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = send(app, make(get(uri))).await;
        if reply.status == 200 && ready(&reply.body) {
            return reply.body;
        }
        assert!(
            Instant::now() < deadline,
            "GET {uri} never became ready; last answer {reply:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Replaces ids, times and measured values, keeping `null`s visible.
fn redacted(value: Content, _: insta::internals::ContentPath<'_>) -> Content {
    match value {
        Content::None | Content::Unit => value,
        _ => Content::from("[redacted]"),
    }
}

/// Snapshot settings with every id, time and measurement redacted.
fn snapshots() -> insta::Settings {
    let mut settings = crate::snapshot_settings!();
    for selector in [
        ".job_id",
        ".created_at",
        ".updated_at",
        ".decision_timestamp",
        ".started_at",
        ".finished_at",
        ".worker",
        ".duration_ms",
        ".energy_kwh",
        ".emissions_kg",
        ".baseline_emissions_kg",
        ".defer_deadline_ts",
        ".jobs[].job_id",
        ".jobs[].created_at",
        ".jobs[].updated_at",
        ".jobs[].decision_timestamp",
        ".jobs[].defer_deadline_ts",
        ".next_cursor",
        ".events[].stream_id",
        ".events[].recorded_at",
        ".performance.avg_duration_ms",
        ".sustainability.total_emissions_kg",
        ".sustainability.baseline_emissions_kg",
        ".sustainability.saved_kg",
        ".sustainability.total_energy_kwh",
        ".queues[].head",
        ".queues[].head_score",
    ] {
        settings.add_redaction(selector, insta::dynamic_redaction(redacted));
    }
    settings
}

fn job_id_of(body: &Value) -> Uuid {
    body["job_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no job_id in {body}"))
}

#[actix_web::test]
async fn the_seed_readme_calls_answer_with_the_seed_fields() {
    let api = TestApi::start().await;
    let app = test::init_service(app(&api.state)).await;

    let health = send(&app, get("/health").to_request()).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body, json!({ "ok": true, "service": "api" }));

    let root = send(&app, get("/").to_request()).await;
    assert_eq!(root.status, 200);
    assert_eq!(root.body["name"], "carbonq");
    assert!(root.body["endpoints"]["POST /jobs"].is_string());

    let submitted = send(
        &app,
        submit(&json!({ "type": "train", "urgency": "critical" })).to_request(),
    )
    .await;
    assert_eq!(submitted.status, 200);
    assert_eq!(submitted.body["status"], "QUEUED");
    assert_eq!(submitted.body.as_object().map(|o| o.len()), Some(2));
    let id = job_id_of(&submitted.body);

    let job = wait_for(
        &app,
        &format!("/jobs/{id}"),
        |r| r.to_request(),
        |b| b["status"] == "DONE",
    )
    .await;
    for field in [
        "job_id",
        "type",
        "urgency",
        "status",
        "mode",
        "created_at",
        "updated_at",
        "decision_timestamp",
        "carbon_intensity_at_decision",
        "policy_rule_id",
        "decision_reason",
        "duration_ms",
        "emissions_kg",
        "result",
    ] {
        assert!(job[field].is_string(), "{field} missing in {job}");
    }
    assert_eq!(job["job_id"], id.to_string());
    assert_eq!(
        (&job["type"], &job["mode"]),
        (&json!("train"), &json!("FAST"))
    );

    let explain = send(&app, get(&format!("/jobs/{id}/explain")).to_request()).await;
    assert_eq!(explain.status, 200);
    let e = &explain.body;
    assert_eq!(e["policy_rule_id"], "CRITICAL_OVERRIDE");
    assert_eq!(e["guardrail_applied"], false);
    assert_eq!(e["carbon_intensity_at_decision"], 300.0);
    assert_eq!(
        e["explainability"]["thresholds"],
        json!({ "low": 200.0, "high": 400.0 })
    );
    assert_eq!(e["explainability"]["max_deferral_seconds"], 600);

    // Stats are counters in the read models: wait for the runner to fold the completion.
    let stats = wait_for(
        &app,
        "/stats",
        |r| r.to_request(),
        |b| b["jobs"]["counts_by_status"]["DONE"] == 1,
    )
    .await;
    assert_eq!(stats["jobs"]["total_jobs"], 1);
    assert_eq!(stats["jobs"]["counts_by_mode"]["FAST"], 1);
    for depth in ["pending", "fast", "eco", "deferred"] {
        assert_eq!(stats["queue_depths"][depth], 0, "{stats}");
    }
    assert!(stats["performance"]["avg_duration_ms"].is_number());
    assert!(stats["sustainability"]["total_emissions_kg"].is_number());

    snapshots().bind(|| {
        insta::assert_json_snapshot!("seed_health", health.body);
        insta::assert_json_snapshot!("seed_root", root.body);
        insta::assert_json_snapshot!("seed_submit", submitted.body);
        insta::assert_json_snapshot!("seed_job", job);
        insta::assert_json_snapshot!("seed_explain", explain.body);
        insta::assert_json_snapshot!("seed_stats", stats);
    });
}

#[actix_web::test]
async fn every_bad_request_is_refused_and_appends_nothing() {
    let api = TestApi::start().await;
    let app = test::init_service(app(&api.state)).await;
    let soon = (Utc::now() + TimeDelta::seconds(60)).to_rfc3339();
    let unknown = crate::support::job(999);
    let cases: Vec<(&str, TestRequest, u16)> = vec![
        (
            "malformed_json",
            raw_submit(Some("application/json"), r#"{"type": "#),
            400,
        ),
        ("wrong_type", submit(&json!({ "urgency": 5 })), 400),
        ("unknown_field", submit(&json!({ "colour": "green" })), 400),
        (
            "unknown_urgency",
            submit(&json!({ "urgency": "asap" })),
            422,
        ),
        (
            "deadline_in_past",
            submit(&json!({ "deadline": "2000-01-01T00:00:00Z" })),
            422,
        ),
        (
            "deadline_shorter_than_duration",
            submit(&json!({ "deadline": soon, "duration_s": 3600 })),
            422,
        ),
        (
            "body_too_large",
            submit(&json!({ "type": "x".repeat(2 * BODY_LIMIT) })),
            413,
        ),
        (
            "wrong_content_type",
            raw_submit(Some("text/plain"), r#"{"type": "train"}"#),
            415,
        ),
        (
            "no_content_type",
            raw_submit(None, r#"{"type": "train"}"#),
            415,
        ),
        ("unknown_job", get(&format!("/jobs/{unknown}")), 404),
        ("job_id_not_a_uuid", get("/jobs/not-a-uuid"), 404),
        (
            "explain_unknown_job",
            get(&format!("/jobs/{unknown}/explain")),
            404,
        ),
        (
            "events_of_unknown_job",
            get(&format!("/jobs/{unknown}/events")),
            404,
        ),
        (
            "cancel_unknown_job",
            TestRequest::delete().uri(&format!("/jobs/{unknown}")),
            404,
        ),
        ("bad_cursor", get("/jobs?cursor=garbage"), 400),
        ("bad_limit", get("/jobs?limit=many"), 400),
        ("unknown_route", get("/nowhere"), 404),
        ("wrong_method", TestRequest::put().uri("/jobs"), 405),
        // Each of these stopped the intake, or a worker, before submissions were bounded.
        (
            "duration_past_i64_with_deadline",
            submit(&json!({
                "type": "x", "urgency": "normal", "duration_s": 9_223_372_036_854_775_807_u64,
                "deadline": (Utc::now() + TimeDelta::days(30)).to_rfc3339(),
            })),
            422,
        ),
        (
            "duration_past_i64_in_a_batch",
            TestRequest::post()
                .uri("/jobs/batch")
                .set_json(json!({ "jobs": [
                    { "type": "x" },
                    { "type": "x", "duration_s": 1_000_000_000_000_000_u64, "deadline": soon },
                ]})),
            422,
        ),
        (
            "duration_u64_max_critical",
            submit(&json!({ "type": "inference", "urgency": "critical", "duration_s": u64::MAX })),
            422,
        ),
        (
            "power_past_100_kw",
            submit(&json!({ "power_w": 100_001.0 })),
            422,
        ),
        (
            "tenant_past_256_bytes",
            submit(&json!({ "tenant": "t".repeat(257) })),
            422,
        ),
        (
            "type_not_a_safe_name",
            submit(&json!({ "type": "rm -rf /" })),
            422,
        ),
        (
            "deadline_without_zone",
            submit(&json!({ "deadline": "2026-12-03T09:00:00" })),
            400,
        ),
        (
            "deadline_not_a_time",
            submit(&json!({ "deadline": "tomorrow" })),
            400,
        ),
        (
            "deadline_past_a_year",
            submit(&json!({ "deadline": (Utc::now() + TimeDelta::days(400)).to_rfc3339() })),
            422,
        ),
        (
            "batch_job_of_wrong_type",
            TestRequest::post()
                .uri("/jobs/batch")
                .set_json(json!({ "jobs": [
                    { "type": "x" }, { "duration_s": -1 },
                ]})),
            400,
        ),
    ];
    let mut answers = serde_json::Map::new();
    for (name, req, status) in cases {
        let before = log_len(&api.store).await;
        let reply = send(&app, req.to_request()).await;
        assert_eq!(reply.status, status, "{name}: {reply:?}");
        assert_eq!(reply.retry_after, None, "{name}");
        assert_eq!(
            log_len(&api.store).await,
            before,
            "{name} appended to the log"
        );
        answers.insert(
            name.to_owned(),
            json!({ "status": status, "body": reply.body }),
        );
    }
    assert_eq!(log_len(&api.store).await, 0);
    assert_eq!(
        answers["unknown_job"]["body"],
        json!({ "detail": "Job not found" })
    );
    // None of them stopped the intake.
    let after = send(&app, submit(&json!({ "type": "x" })).to_request()).await;
    assert_eq!(after.status, 200, "{after:?}");
    snapshots().bind(|| {
        insta::assert_json_snapshot!("refusals", answers, {
            ".deadline_in_past.body.message" => "[redacted]",
            ".deadline_shorter_than_duration.body.message" => "[redacted]",
            ".deadline_past_a_year.body.message" => "[redacted]",
        });
    });
}

#[actix_web::test]
async fn a_repeated_idempotency_key_answers_the_first_job_and_appends_once() {
    let api = TestApi::start().await;
    let app = test::init_service(app(&api.state)).await;
    let body = json!({ "type": "etl", "urgency": "critical", "idempotency_key": "nightly-42" });

    let first = send(&app, submit(&body).to_request()).await;
    let again = send(&app, submit(&body).to_request()).await;
    assert_eq!((first.status, again.status), (200, 200));
    assert_eq!(job_id_of(&again.body), job_id_of(&first.body));
    assert_eq!(first.body.get("duplicate"), None);
    assert_eq!(again.body["duplicate"], true);

    // Two at once with a new key: one job, the other answer marked as its duplicate.
    let other = json!({ "type": "etl", "idempotency_key": "nightly-43" });
    let (a, b) = tokio::join!(
        send(&app, submit(&other).to_request()),
        send(&app, submit(&other).to_request())
    );
    assert_eq!(job_id_of(&a.body), job_id_of(&b.body));
    let duplicates = [&a, &b]
        .iter()
        .filter(|r| r.body.get("duplicate") == Some(&json!(true)))
        .count();
    assert_eq!(duplicates, 1, "{a:?} {b:?}");

    assert_eq!(api.submissions_in_log().await, 2);
}

fn submit_batch(jobs: &[Value]) -> TestRequest {
    TestRequest::post()
        .uri("/jobs/batch")
        .set_json(json!({ "jobs": jobs }))
}

/// A batch holding a key that another submission is still storing is answered by that
/// submission. When it fails, the batch fails before storing any job of its own, so the client
/// can send the whole batch again without creating its other jobs twice.
#[actix_web::test]
async fn a_batch_stores_nothing_when_a_submission_it_waits_on_fails() {
    const SEED: u64 = 11;
    let now = Utc::now();
    let clock = Arc::new(ManualClock::at(now));
    let api = TestApi::start_on(
        TestRedis::start(),
        true,
        pending_at_most(1000),
        clock,
        IdGen::seeded(SEED),
    )
    .await;
    // The first job id the intake draws is already in the log, written behind the journal's
    // back: storing the first submission conflicts.
    let taken = IdGen::seeded(SEED).next(now);
    EventStore::Redis(api.store.clone())
        .append(AppendRequest {
            job_id: taken,
            expected_version: 0,
            events: one_of_each().into_iter().take(1).collect(),
            correlation_id: taken,
            causation_id: None,
            replaces: Vec::new(),
        })
        .await
        .expect("written behind the journal's back");
    let app = test::init_service(app(&api.state)).await;
    let keyed = json!({ "type": "etl", "idempotency_key": "nightly-44" });
    let batch = [
        keyed.clone(),
        json!({ "type": "train", "urgency": "critical" }),
    ];
    // Both reach the intake together: the batch finds the key in flight.
    let (first, batched) = tokio::join!(
        send(&app, submit(&keyed).to_request()),
        send(&app, submit_batch(&batch).to_request())
    );
    assert_eq!(first.status, 500, "{first:?}");
    assert_eq!(batched.status, 500, "{batched:?}");
    assert_eq!(
        api.submissions_in_log().await,
        1,
        "only the one written behind its back"
    );
}

#[actix_web::test]
async fn a_batch_is_appended_together_answered_in_order_and_run() {
    let api = TestApi::start().await;
    let app = test::init_service(app(&api.state)).await;
    let seen = send(
        &app,
        submit(&json!({ "type": "etl", "idempotency_key": "seen" })).to_request(),
    )
    .await;
    let jobs = [
        json!({ "type": "train", "urgency": "critical" }),
        json!({ "type": "eval", "urgency": "critical", "idempotency_key": "sweep-1" }),
        json!({ "type": "etl", "idempotency_key": "seen" }),
        json!({ "type": "eval", "idempotency_key": "sweep-1" }),
        json!({ "type": "infer", "urgency": "normal", "power_w": 250.0 }),
    ];
    let reply = send(&app, submit_batch(&jobs).to_request()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let answers = reply.body["jobs"].as_array().expect("a jobs array");
    assert_eq!(answers.len(), jobs.len());
    let ids: Vec<Uuid> = answers.iter().map(job_id_of).collect();
    // A key seen before answers its first job; a key repeated in the batch, its first place.
    assert_eq!(ids[2], job_id_of(&seen.body));
    assert_eq!(ids[3], ids[1]);
    let duplicates: Vec<bool> = answers.iter().map(|a| a["duplicate"] == true).collect();
    assert_eq!(duplicates, [false, false, true, true, false]);
    let new: HashSet<Uuid> = [ids[0], ids[1], ids[4]].into();
    assert_eq!(new.len(), 3);
    assert_eq!(
        api.submissions_in_log().await,
        4,
        "one JobSubmitted per new job"
    );
    for id in [ids[0], ids[1]] {
        wait_for(
            &app,
            &format!("/jobs/{id}"),
            |r| r.to_request(),
            |b| b["status"] == "DONE",
        )
        .await;
    }
    snapshots().bind(|| {
        // The earlier job's status is whatever it has reached by now.
        insta::assert_json_snapshot!("batch_submit", reply.body, { ".jobs[2].status" => "[redacted]" });
    });
}

#[actix_web::test]
async fn a_batch_with_one_bad_job_is_refused_whole_and_appends_nothing() {
    let api = TestApi::start_limited(true, pending_at_most(3)).await;
    let app = test::init_service(app(&api.state)).await;
    let good = json!({ "type": "train" });
    let too_many: Vec<Value> = (0..=MAX_BATCH).map(|_| good.clone()).collect();
    let cases: Vec<(&str, TestRequest, u16, &str)> = vec![
        (
            "bad_urgency_at_2",
            submit_batch(&[good.clone(), good.clone(), json!({ "urgency": "asap" })]),
            422,
            "unknown_urgency",
        ),
        ("empty", submit_batch(&[]), 422, "invalid_batch_size"),
        (
            "body_too_large",
            submit_batch(&[json!({ "type": "x".repeat(BATCH_BODY_LIMIT) })]),
            413,
            "payload_too_large",
        ),
        (
            "too_many",
            submit_batch(&too_many),
            422,
            "invalid_batch_size",
        ),
        (
            "wrong_field_type_at_1",
            submit_batch(&[good.clone(), json!({ "power_w": "lots" })]),
            400,
            "invalid_json",
        ),
        (
            "not_a_list",
            TestRequest::post()
                .uri("/jobs/batch")
                .set_json(json!({ "jobs": good })),
            400,
            "invalid_json",
        ),
        (
            "more_than_pending_can_ever_hold",
            submit_batch(&[good.clone(), good.clone(), good.clone(), good.clone()]),
            422,
            "invalid_batch_size",
        ),
    ];
    for (name, req, status, code) in cases {
        let reply = send(&app, req.to_request()).await;
        assert_eq!(reply.status, status, "{name}: {reply:?}");
        assert_eq!(reply.body["error"], code, "{name}: {reply:?}");
        assert_eq!(log_len(&api.store).await, 0, "{name} appended to the log");
    }
    let bad = send(
        &app,
        submit_batch(&[good.clone(), good.clone(), json!({ "urgency": "asap" })]).to_request(),
    )
    .await;
    assert!(
        bad.body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("jobs[2]: ")),
        "the message names the bad job: {bad:?}"
    );
    let wrong_method = send(&app, get("/jobs/batch").to_request()).await;
    assert_eq!(wrong_method.status, 405);
}

#[actix_web::test]
async fn a_deferred_job_is_cancelled_once_and_a_finished_one_cannot_be() {
    let api = TestApi::start().await;
    let app = test::init_service(app(&api.state)).await;
    let before = Utc::now().timestamp();
    let submitted = send(&app, submit(&json!({ "type": "batch" })).to_request()).await;
    let id = job_id_of(&submitted.body);
    let job_uri = format!("/jobs/{id}");

    // Flexible at 300 g/kWh is deferred by MEDIUM_FLEX_DEFER, for at most 600 s. Waited for in
    // Redis's DEFERRED set, written with the job's decision in one page: GET and explain answer
    // from the journal until the job's first page is written, and may be ahead of the hash.
    let queues = wait_for(
        &app,
        "/queues",
        |r| r.to_request(),
        |b| b["queues"][3]["depth"] == 1,
    )
    .await;
    let explain = send(&app, get(&format!("{job_uri}/explain")).to_request()).await;
    assert_eq!(explain.body["mode"], "DEFER");
    assert_eq!(explain.body["policy_rule_id"], "MEDIUM_FLEX_DEFER");
    let deadline = explain.body["defer_deadline_ts"]
        .as_i64()
        .expect("deadline");
    // Decided between the submission and now (a loaded machine may take seconds to get here).
    let latest = Utc::now().timestamp() + 600;
    assert!((before + 600..=latest).contains(&deadline), "{deadline}");

    let cancelled = send(&app, TestRequest::delete().uri(&job_uri).to_request()).await;
    assert_eq!(cancelled.status, 200);
    assert_eq!(
        cancelled.body,
        json!({ "job_id": id, "status": "CANCELLED" })
    );
    // Cancelling again answers the same and appends nothing.
    let before = log_len(&api.store).await;
    let again = send(&app, TestRequest::delete().uri(&job_uri).to_request()).await;
    assert_eq!((again.status, &again.body), (200, &cancelled.body));
    assert_eq!(log_len(&api.store).await, before);

    let events = send(&app, get(&format!("{job_uri}/events")).to_request()).await;
    assert_eq!(events.status, 200);
    let types: Vec<&str> = events.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(types, ["JobSubmitted", "JobDeferred", "JobCancelled"]);

    let done = send(
        &app,
        submit(&json!({ "type": "train", "urgency": "critical" })).to_request(),
    )
    .await;
    let done_uri = format!("/jobs/{}", job_id_of(&done.body));
    wait_for(
        &app,
        &done_uri,
        |r| r.to_request(),
        |b| b["status"] == "DONE",
    )
    .await;
    let refused = send(&app, TestRequest::delete().uri(&done_uri).to_request()).await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.body["error"], "not_cancellable");

    snapshots().bind(|| {
        insta::assert_json_snapshot!("deferred_explain", explain.body);
        insta::assert_json_snapshot!("deferred_queues", queues);
        insta::assert_json_snapshot!("cancelled_events", events.body, {
            ".events[1].summary" => "[redacted]",
        });
        insta::assert_json_snapshot!("not_cancellable", refused.body, {
            ".message" => "[redacted]",
        });
    });
}

#[actix_web::test]
async fn jobs_are_listed_page_by_page_without_repeats() {
    let api = TestApi::start().await;
    let app = test::init_service(app(&api.state)).await;
    let mut submitted = HashSet::new();
    for _ in 0..5 {
        let reply = send(&app, submit(&json!({ "type": "batch" })).to_request()).await;
        submitted.insert(job_id_of(&reply.body));
    }
    wait_for(
        &app,
        "/jobs?limit=500",
        |r| r.to_request(),
        |b| {
            b["jobs"].as_array().is_some_and(|jobs| {
                jobs.len() == 5 && jobs.iter().all(|j| j["status"] == "DEFERRED")
            })
        },
    )
    .await;

    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            None => "/jobs?limit=2".to_owned(),
            Some(c) => format!("/jobs?limit=2&cursor={c}"),
        };
        let reply = send(&app, get(&uri).to_request()).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        cursor = reply.body["next_cursor"].as_str().map(str::to_owned);
        pages.push(reply.body);
        if cursor.is_none() {
            break;
        }
        assert!(pages.len() < 10, "paging does not end");
    }
    let sizes: Vec<usize> = pages
        .iter()
        .map(|p| p["jobs"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [2, 2, 1]);
    let listed: Vec<Uuid> = pages
        .iter()
        .flat_map(|p| p["jobs"].as_array().cloned().unwrap_or_default())
        .map(|j| job_id_of(&j))
        .collect();
    assert_eq!(listed.len(), 5);
    assert_eq!(listed.iter().copied().collect::<HashSet<_>>(), submitted);

    snapshots().bind(|| insta::assert_json_snapshot!("first_page", pages[0]));
}

#[actix_web::test]
async fn a_job_is_readable_before_its_projection_is_written() {
    let api = TestApi::start_with(false).await;
    let app = test::init_service(app(&api.state)).await;
    let submitted = send(&app, submit(&json!({ "type": "train" })).to_request()).await;
    let id = job_id_of(&submitted.body);

    let job = send(&app, get(&format!("/jobs/{id}")).to_request()).await;
    assert_eq!(job.status, 200);
    assert_eq!(job.body["job_id"], id.to_string());
    assert_eq!(job.body["type"], "train");
    let listed = send(&app, get("/jobs").to_request()).await;
    assert_eq!(listed.body, json!({ "jobs": [], "next_cursor": null }));

    // Redis loses its data: the journal no longer answers for a job the log does not hold.
    let mut conn = api.store.connection();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    let lost = send(&app, get(&format!("/jobs/{id}")).to_request()).await;
    assert_eq!(lost.status, 503, "{lost:?}");
    assert_eq!(lost.body["error"], "store_unavailable");
}

#[actix_web::test]
async fn a_full_pending_queue_answers_503_busy_and_appends_nothing() {
    // PENDING may hold no job at all: every submission finds it full.
    let api = TestApi::start_limited(true, pending_at_most(0)).await;
    let app = test::init_service(app(&api.state)).await;
    let before = log_len(&api.store).await;
    let reply = send(
        &app,
        submit(&json!({"type": "inference", "urgency": "critical"})).to_request(),
    )
    .await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.body["error"], "busy");
    assert!(reply.retry_after.is_some(), "{reply:?}");
    assert_eq!(log_len(&api.store).await, before);
}

#[actix_web::test]
async fn concurrent_submissions_cannot_all_slip_past_the_pending_limit() {
    let api = TestApi::start_limited(true, pending_at_most(2)).await;
    let app = test::init_service(app(&api.state)).await;
    let body = json!({"type": "inference", "urgency": "critical"});
    let replies =
        futures::future::join_all((0..20).map(|_| send(&app, submit(&body).to_request()))).await;
    let accepted = replies.iter().filter(|r| r.status == 200).count();
    let busy = replies.iter().filter(|r| r.status == 503).count();
    assert_eq!(accepted + busy, 20, "{replies:?}");
    // Submissions in flight count against the limit, so not all twenty pass the check.
    assert!((1..20).contains(&accepted), "{accepted} accepted");
    assert_eq!(api.submissions_in_log().await, accepted);
}

/// Jobs routed on at once still count while they wait: with held jobs filling the bound on
/// waiting work, a submission answers 503 busy and appends nothing, although `PENDING` is
/// empty; a job that stops waiting (here, cancelled) makes room for one more.
#[actix_web::test]
async fn jobs_waiting_in_any_queue_bound_the_intake() {
    let limits = Limits {
        max_pending: 1000,
        max_waiting: 3,
    };
    let api = TestApi::start_limited(true, limits).await;
    let app = test::init_service(app(&api.state)).await;
    // Flexible at 300 g/kWh: held in DEFERRED (MEDIUM_FLEX_DEFER) for up to 600 s.
    let flexible = json!({ "type": "etl", "urgency": "flexible" });
    let mut held = Vec::new();
    for _ in 0..3 {
        let reply = send(&app, submit(&flexible).to_request()).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        held.push(job_id_of(&reply.body));
    }
    let deferred = |b: &Value| b["jobs"]["counts_by_status"]["DEFERRED"] == 3;
    wait_for(&app, "/stats", |r| r.to_request(), deferred).await;

    let before = log_len(&api.store).await;
    let critical = json!({ "type": "etl", "urgency": "critical" });
    let refused = send(&app, submit(&critical).to_request()).await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.body["error"], "busy");
    assert!(refused.retry_after.is_some(), "{refused:?}");
    assert_eq!(log_len(&api.store).await, before);

    let cancelled = send(
        &app,
        TestRequest::delete()
            .uri(&format!("/jobs/{}", held[0]))
            .to_request(),
    )
    .await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    let accepted = send(&app, submit(&critical).to_request()).await;
    assert_eq!(accepted.status, 200, "{accepted:?}");
}

/// Redis restarting (its data kept) costs the requests that meet it a 503; then the service
/// carries on without a restart of its own: it connects again, accepts and runs new jobs, and
/// keeps the read models up to date.
#[actix_web::test]
async fn after_redis_restarts_the_service_connects_again_and_carries_on() {
    let server = TestRedis::start_durable();
    let mut api = TestApi::start_on(
        server,
        true,
        pending_at_most(1000),
        Arc::new(SystemClock),
        IdGen::Random,
    )
    .await;
    let app = test::init_service(app(&api.state)).await;
    let job = json!({ "type": "etl", "urgency": "critical" });
    let before = send(&app, submit(&job).to_request()).await;
    assert_eq!(before.status, 200, "{before:?}");
    let id = job_id_of(&before.body);
    let done = |b: &Value| b["status"] == "DONE";
    wait_for(&app, &format!("/jobs/{id}"), |r| r.to_request(), done).await;

    api.restart_redis();
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let reply = send(&app, submit(&job).to_request()).await;
        if reply.status == 200 {
            break reply;
        }
        assert_eq!(reply.status, 503, "{reply:?}");
        assert!(Instant::now() < deadline, "never accepted again: {reply:?}");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    };
    let id = job_id_of(&after.body);
    wait_for(&app, &format!("/jobs/{id}"), |r| r.to_request(), done).await;
    assert_eq!(api.submissions_in_log().await, 2);
}

/// A service whose Redis answers reach it through an [`AnswerCutter`].
async fn api_behind_a_cutter() -> (AnswerCutter, TestApi) {
    let server = TestRedis::start();
    let cutter = AnswerCutter::start(server.socket());
    let clock = Arc::new(SystemClock);
    let api = TestApi::start_at(
        server,
        &cutter.url(),
        true,
        pending_at_most(1000),
        clock,
        IdGen::Random,
    )
    .await;
    (cutter, api)
}

/// Submits one job answered as usual (Redis learns the append script), then, with Redis's
/// answers cut, a critical job under `key`, answered 503; returns that job's body. Answers stay
/// cut.
async fn submit_unanswered<S, R, B>(
    app: &S,
    make: impl Fn(TestRequest) -> R,
    cutter: &AnswerCutter,
    key: &str,
) -> Value
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let job = json!({ "type": "etl", "urgency": "critical" });
    let answered = send(app, make(submit(&job))).await;
    assert_eq!(answered.status, 200, "{answered:?}");
    cutter.cut_answers(true);
    let keyed = json!({ "type": "etl", "urgency": "critical", "idempotency_key": key });
    let unanswered = send(app, make(submit(&keyed))).await;
    assert_eq!(unanswered.status, 503, "{unanswered:?}");
    keyed
}

/// Redis may store a submission and go away before answering: the client is told 503, yet the
/// job is in the log. Once Redis answers again the intake finds it there and queues it, so it
/// runs like any other instead of waiting for the next start.
#[actix_web::test]
async fn a_submission_stored_without_an_answer_runs_once_redis_answers_again() {
    let (cutter, api) = api_behind_a_cutter().await;
    let app = test::init_service(app(&api.state)).await;
    let keyed = submit_unanswered(&app, |r| r.to_request(), &cutter, "nightly-45").await;
    cutter.cut_answers(false);

    let done = |b: &Value| b["jobs"]["counts_by_status"]["DONE"] == 2;
    wait_for(&app, "/stats", |r| r.to_request(), done).await;
    // The client's retry finds the job it was not told about, and runs nothing twice.
    let retried = send(&app, submit(&keyed).to_request()).await;
    assert_eq!(retried.status, 200, "{retried:?}");
    assert_eq!(retried.body["duplicate"], true);
    assert_eq!(api.submissions_in_log().await, 2);
}

/// A retry that comes after Redis answers again but before the intake has found the first,
/// unanswered attempt in the log waits for that check and is answered with the first job
/// instead of submitting it a second time.
#[actix_web::test]
async fn a_retry_before_an_unanswered_submission_is_found_does_not_submit_it_twice() {
    let (cutter, api) = api_behind_a_cutter().await;
    let app = test::init_service(app(&api.state)).await;
    let keyed = submit_unanswered(&app, |r| r.to_request(), &cutter, "nightly-46").await;
    // The intake's check backs off while Redis does not answer: after 1.6 s of it, its next
    // attempt is most of a second away when the retry comes.
    actix_rt::time::sleep(Duration::from_millis(1600)).await;
    cutter.cut_answers(false);
    let retried = send(&app, submit(&keyed).to_request()).await;
    assert_eq!(retried.status, 200, "{retried:?}");
    assert_eq!(retried.body["duplicate"], true, "{retried:?}");

    let done = |b: &Value| b["jobs"]["counts_by_status"]["DONE"] == 2;
    wait_for(&app, "/stats", |r| r.to_request(), done).await;
    assert_eq!(api.submissions_in_log().await, 2);
}

/// A full Redis refuses writes: a submission answers 503 with `Retry-After` and stores nothing,
/// instead of a 500; once Redis has room the service goes on by itself.
#[actix_web::test]
async fn a_full_redis_answers_503_and_stores_nothing_until_it_has_room() {
    let api = TestApi::start().await;
    let app = test::init_service(app(&api.state)).await;
    let job = json!({ "type": "etl", "urgency": "critical" });
    set_maxmemory(&api.store, 1).await;
    let before = log_len(&api.store).await;
    let refused = send(&app, submit(&job).to_request()).await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.body["error"], "store_unavailable");
    assert!(refused.retry_after.is_some(), "{refused:?}");
    assert_eq!(log_len(&api.store).await, before);

    set_maxmemory(&api.store, 0).await;
    let accepted = send(&app, submit(&job).to_request()).await;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    let id = job_id_of(&accepted.body);
    let done = |b: &Value| b["status"] == "DONE";
    wait_for(&app, &format!("/jobs/{id}"), |r| r.to_request(), done).await;
}

/// `GET /metrics` speaks Prometheus's text format from the model in memory: once a job has run
/// it is counted, refused submissions are counted by code, and a scrape still answers while
/// Redis is down.
#[actix_web::test]
async fn metrics_count_jobs_and_refusals_for_prometheus_and_answer_while_redis_is_down() {
    let mut api = TestApi::start().await;
    let app = test::init_service(app(&api.state)).await;
    let job = json!({ "type": "etl", "urgency": "critical" });
    let accepted = send(&app, submit(&job).to_request()).await;
    let id = job_id_of(&accepted.body);
    let done = |b: &Value| b["status"] == "DONE";
    wait_for(&app, &format!("/jobs/{id}"), |r| r.to_request(), done).await;
    let bad = send(&app, submit(&json!({ "urgency": "asap" })).to_request()).await;
    assert_eq!(bad.status, 422, "{bad:?}");
    api.stop_redis();
    let refused = send(&app, submit(&job).to_request()).await;
    assert_eq!(refused.status, 503, "{refused:?}");

    let response = test::call_service(&app, get("/metrics").to_request()).await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let body = String::from_utf8(test::read_body(response).await.to_vec()).expect("utf-8");
    for line in [
        "carbonq_jobs_submitted_total 1",
        "carbonq_jobs_completed_total 1",
        "carbonq_attempts_failed_total 0",
        "carbonq_jobs{status=\"DONE\"} 1",
        "carbonq_jobs{status=\"RUNNING\"} 0",
        "carbonq_queue_depth{queue=\"FAST\"} 0",
        "carbonq_grid_intensity_gco2_per_kwh 300.0",
        "carbonq_submissions_refused_total{code=\"unknown_urgency\"} 1",
        "carbonq_submissions_refused_total{code=\"store_unavailable\"} 1",
        "# EOF",
    ] {
        assert!(body.lines().any(|l| l == line), "{line:?} not in\n{body}");
    }
}

#[actix_web::test]
async fn reads_and_writes_answer_503_with_retry_after_while_redis_is_down() {
    let mut api = TestApi::start().await;
    let app = test::init_service(app(&api.state)).await;
    api.stop_redis();

    for req in [
        get("/stats"),
        get("/queues"),
        get("/jobs"),
        submit(&json!({})),
    ] {
        let reply = send(&app, req.to_request()).await;
        assert_eq!(reply.status, 503, "{reply:?}");
        assert_eq!(reply.retry_after.as_deref(), Some("5"));
        assert_eq!(reply.body["error"], "store_unavailable");
    }
}
