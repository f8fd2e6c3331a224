//! Property tests of what a hostile client or a damaged log can hand carbonq: request bodies
//! through decoding and validation (pure, then over HTTP on a real app and a private Redis), and
//! stored payloads through the event codec. Nothing may panic; a refused request creates no job;
//! an accepted submission is within every documented bound.
//!
//! Each property runs a fixed number of cases from a fixed seed, so the suite is the same on
//! every run and bounded in time; `PROPTEST_RNG_SEED=<n>` explores other inputs. Failures are
//! shrunk and printed, not saved to a regressions file.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use actix_web::body::{self, MessageBody};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header;
use actix_web::test::{self, TestRequest};
use carbonq::actors::intake::Limits;
use carbonq::actors::submission::{
    validate, SubmitRequest, MAX_DEADLINE_AHEAD, MAX_DURATION_S, MAX_POWER_W, MAX_TEXT_LEN,
    MAX_TYPE_LEN,
};
use carbonq::events::sample::one_of_each;
use carbonq::events::{decode, encode, JobEvent, StreamId};
use carbonq::http::jobs::BatchRequest;
use carbonq::store::EventStore;
use chrono::{DateTime, FixedOffset, SecondsFormat, TimeDelta, TimeZone, Utc};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, RngSeed, TestError, TestRunner};
use serde_json::Value;
use uuid::Uuid;

use crate::support::app::{app, AppSettings, LogOnlyApi, MAX_BATCH};

/// The fields of `POST /jobs`.
const FIELDS: [&str; 7] = [
    "type",
    "urgency",
    "deadline",
    "duration_s",
    "power_w",
    "idempotency_key",
    "tenant",
];

/// `cases` cases from a fixed seed (or `PROPTEST_RNG_SEED`), nothing written to disk.
fn config(cases: u32) -> Config {
    let base = Config::default();
    let rng_seed = match std::env::var_os("PROPTEST_RNG_SEED") {
        Some(_) => base.rng_seed,
        None => RngSeed::Fixed(0x00ca_4b0a),
    };
    Config {
        cases,
        failure_persistence: None,
        rng_seed,
        ..base
    }
}

/// The clock of the pure properties.
fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 3, 15, 12, 0, 0)
        .single()
        .expect("valid time")
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// One JSON scalar as text, or something a careless client sends for one (`NaN`, `inf`, a
/// number with 40 digits or an exponent of 9999, a string of any Unicode).
fn scalar() -> BoxedStrategy<String> {
    prop_oneof![
        select(&["null", "true", "false", "NaN", "-Infinity", "1e999", "-0"][..])
            .prop_map(str::to_owned),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        "-?[0-9]{1,40}(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,4})?",
        any::<String>().prop_map(|s| json_string(&s)),
        (0usize..400, any::<char>()).prop_map(|(n, c)| json_string(&c.to_string().repeat(n))),
    ]
    .boxed()
}

/// An object key: mostly a field of `POST /jobs` (repeats included), sometimes another.
fn key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(FIELDS.as_slice()).prop_map(str::to_owned),
        1 => select(&["jobs", "Type", "duration", ""][..]).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
    .boxed()
}

fn object(entries: &[(String, String)]) -> String {
    let fields: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("{}:{v}", json_string(k)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// Any JSON value as text: a scalar, or arrays and objects nested up to three deep.
fn any_json() -> BoxedStrategy<String> {
    let nested = scalar().prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(|items| format!("[{}]", items.join(","))),
            vec((key(), inner), 0..6).prop_map(|entries| object(&entries)),
        ]
    });
    prop_oneof![2 => scalar(), 1 => nested].boxed()
}

/// A deadline as text: RFC 3339 around `now` (in the past, near the 366-day bound, in other
/// zones), without a zone, or not a time at all.
fn deadline(now: DateTime<Utc>) -> BoxedStrategy<String> {
    let day = 86_400;
    let ahead = prop_oneof![
        -2 * day..370 * day,
        select(vec![
            0,
            1,
            366 * day,
            366 * day + 1,
            MAX_DURATION_S as i64,
            MAX_DURATION_S as i64 + 1,
        ]),
    ];
    prop_oneof![
        8 => (ahead, 0..6).prop_map(move |(s, form)| {
            let t = now + TimeDelta::seconds(s);
            let plus_5_30 = FixedOffset::east_opt(5 * 3600 + 1800).expect("valid offset");
            match form {
                0 => t.to_rfc3339_opts(SecondsFormat::Secs, true),
                1 => t.to_rfc3339_opts(SecondsFormat::Nanos, false),
                2 => t.with_timezone(&plus_5_30).to_rfc3339(),
                3 => t.to_rfc3339_opts(SecondsFormat::Millis, true),
                4 => t.to_rfc3339_opts(SecondsFormat::Secs, true).to_lowercase(),
                _ => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
            }
        }),
        1 => select(vec![
            "tomorrow",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-23:59",
            "0000-01-01T00:00:00+23:59",
            "+275760-09-13T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-12-03T09:00:00+24:00",
            "2026-12-03T09:00:00.99999999999999999999Z",
        ])
        .prop_map(str::to_owned),
    ]
    .prop_map(|text| json_string(&text))
    .boxed()
}

/// Free text as `tenant` and `idempotency_key` take it, around their 256-byte bound.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        "[ -~]{0,300}",
        "\\PC{0,140}",
        ".{0,12}",
        (0usize..=300).prop_map(|n| "k".repeat(n)),
        (120usize..=140).prop_map(|n| "é".repeat(n)),
    ]
    .prop_map(|s| json_string(&s))
    .boxed()
}

/// A value a client might plausibly send for `field`, valid or just outside its bounds.
fn plausible(field: &str, now: DateTime<Utc>) -> BoxedStrategy<String> {
    match field {
        "type" => prop_oneof![
            "[a-zA-Z0-9_.:/-]{1,64}",
            "[a-z]{60,70}",
            ".{0,10}",
            Just(String::new()),
        ]
        .prop_map(|s| json_string(&s))
        .boxed(),
        "urgency" => select(vec![
            "critical", "normal", "flexible", "Critical", "asap", "",
        ])
        .prop_map(json_string)
        .boxed(),
        "deadline" => deadline(now),
        "duration_s" => prop_oneof![
            3 => (0u64..=7200).prop_map(|d| d.to_string()),
            3 => (0..=MAX_DURATION_S + 10).prop_map(|d| d.to_string()),
            2 => select(vec![
                MAX_DURATION_S,
                MAX_DURATION_S + 1,
                i64::MAX as u64,
                u64::MAX,
            ])
            .prop_map(|d| d.to_string()),
            1 => select(vec!["-1", "1e15", "3600.0", "18446744073709551616"])
                .prop_map(str::to_owned),
        ]
        .boxed(),
        "power_w" => prop_oneof![
            4 => (0.0..=1.1 * MAX_POWER_W).prop_map(|p| format!("{p:?}")),
            1 => select(vec![
                "-0.0",
                "0",
                "100000",
                "100000.00001",
                "1e308",
                "-1e-300",
                "1e400",
            ])
            .prop_map(str::to_owned),
        ]
        .boxed(),
        _ => text(),
    }
}

/// A `POST /jobs` body: each field absent, plausible or any JSON, now and then an unknown or
/// repeated key.
fn submission(now: DateTime<Utc>) -> BoxedStrategy<String> {
    let fields: Vec<BoxedStrategy<Option<(String, String)>>> = FIELDS
        .iter()
        .map(|&field| {
            let value = prop_oneof![9 => plausible(field, now), 1 => any_json()];
            option::weighted(0.5, value.prop_map(move |v| (field.to_owned(), v))).boxed()
        })
        .collect();
    let extra = prop_oneof![
        9 => Just(Vec::new()),
        1 => vec((key(), any_json()), 1..3),
    ];
    (fields, extra)
        .prop_map(|(fields, extra)| {
            let entries: Vec<(String, String)> =
                fields.into_iter().flatten().chain(extra).collect();
            object(&entries)
        })
        .boxed()
}

/// A `POST /jobs/batch` body: `{"jobs": [...]}` of 0 to 24 bodies, now and then something else
/// beside or instead of the list.
fn batch(now: DateTime<Utc>) -> BoxedStrategy<String> {
    let job = prop_oneof![9 => submission(now), 1 => any_json()];
    let jobs = prop_oneof![3 => vec(job.clone(), 0..4), 1 => vec(job, 0..=MAX_BATCH + 4)]
        .prop_map(|jobs| format!("[{}]", jobs.join(",")));
    prop_oneof![
        6 => jobs.prop_map(|jobs| format!("{{\"jobs\":{jobs}}}")),
        1 => (jobs_or_any(now), key(), any_json())
            .prop_map(|(jobs, k, v)| object(&[("jobs".to_owned(), jobs), (k, v)])),
    ]
    .boxed()
}

fn jobs_or_any(now: DateTime<Utc>) -> BoxedStrategy<String> {
    prop_oneof![
        submission(now).prop_map(|job| format!("[{job}]")),
        any_json(),
    ]
    .boxed()
}

/// One change to a byte string.
#[derive(Debug, Clone)]
enum Edit {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Truncate(Index),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, bit)| Edit::Flip(i, bit)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<Index>().prop_map(Edit::Delete),
        any::<Index>().prop_map(Edit::Truncate),
    ];
    vec(edit, 1..5)
}

fn edited(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len();
        match edit {
            Edit::Insert(i, b) => bytes.insert(i.index(len + 1), *b),
            _ if len == 0 => {}
            Edit::Flip(i, bit) => bytes[i.index(len)] ^= 1 << bit,
            Edit::Set(i, b) => bytes[i.index(len)] = *b,
            Edit::Delete(i) => {
                bytes.remove(i.index(len));
            }
            Edit::Truncate(i) => bytes.truncate(i.index(len)),
        }
    }
    bytes
}

/// A request body, shown as text when it is UTF-8 (as a failing case is printed).
#[derive(Clone)]
struct Body(Vec<u8>);

impl Body {
    fn text(text: String) -> Body {
        Body(text.into_bytes())
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(text) => write!(f, "{text:?}"),
            Err(_) => write!(f, "{:?}", self.0),
        }
    }
}

/// A body: a job, a batch, any JSON, any bytes, or a job with a few bytes changed.
fn body(now: DateTime<Utc>) -> BoxedStrategy<Body> {
    prop_oneof![
        8 => submission(now).prop_map(Body::text),
        1 => batch(now).prop_map(Body::text),
        1 => any_json().prop_map(Body::text),
        1 => vec(any::<u8>(), 0..300).prop_map(Body),
        1 => (submission(now), edits()).prop_map(|(s, e)| Body(edited(s.into_bytes(), &e))),
    ]
    .boxed()
}

/// Validates `req` as intake does at `now`; an accepted job must be within every bound and
/// carry what was sent.
fn check_validation(req: SubmitRequest, now: DateTime<Utc>) -> Result<(), TestCaseError> {
    let job = match validate(req.clone(), now) {
        Ok(job) => job,
        Err(refused) => {
            prop_assert!(!refused.code.is_empty() && !refused.message.is_empty());
            return Ok(());
        }
    };
    let t = &job.job_type;
    prop_assert!(!t.is_empty() && t.len() <= MAX_TYPE_LEN, "type {t:?}");
    prop_assert!(
        t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b)),
        "type {t:?}"
    );
    if let Some(d) = job.duration_s {
        prop_assert!(d <= MAX_DURATION_S, "duration_s {d}");
    }
    if let Some(p) = job.power_w {
        prop_assert!(
            p.is_finite() && (0.0..=MAX_POWER_W).contains(&p),
            "power_w {p}"
        );
    }
    for (field, value) in [
        ("tenant", &job.tenant),
        ("idempotency_key", &job.idempotency_key),
    ] {
        if let Some(v) = value {
            prop_assert!(
                !v.is_empty() && v.len() <= MAX_TEXT_LEN && !v.chars().any(char::is_control),
                "{field} of {} bytes",
                v.len()
            );
        }
    }
    if let Some(deadline) = job.deadline {
        let ahead = deadline - now;
        prop_assert!(
            ahead > TimeDelta::zero() && ahead <= MAX_DEADLINE_AHEAD,
            "deadline {deadline}"
        );
        let duration = TimeDelta::seconds(job.duration_s.unwrap_or(0) as i64);
        prop_assert!(ahead >= duration, "deadline {deadline} before the duration");
    }
    prop_assert_eq!(
        (&req.deadline, req.duration_s, req.power_w, &req.tenant),
        (&job.deadline, job.duration_s, job.power_w, &job.tenant)
    );
    prop_assert_eq!(&req.idempotency_key, &job.idempotency_key);
    // What is accepted is stored: its event encodes and decodes to itself.
    let event = JobEvent::Submitted(job);
    let encoded = encode(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let decoded = decode(encoded.type_name, encoded.version, &encoded.data);
    prop_assert_eq!(decoded.ok(), Some(event));
    Ok(())
}

proptest! {
    #![proptest_config(config(8000))]

    #[test]
    fn a_body_never_panics_the_decoder_or_validation_and_what_is_accepted_is_bounded(
        body in body(fixed_now()),
    ) {
        if let Ok(req) = serde_json::from_slice::<SubmitRequest>(&body.0) {
            check_validation(req, fixed_now())?;
        }
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn a_batch_body_never_panics_the_decoder_or_validation(body in batch(fixed_now())) {
        if let Ok(BatchRequest { jobs }) = serde_json::from_str(&body) {
            for req in jobs {
                check_validation(req, fixed_now())?;
            }
        }
    }
}

/// The jobs of the entries of `log` after `cursor`, and the last entry's id.
async fn jobs_after(log: &EventStore, mut cursor: StreamId) -> (Vec<Uuid>, StreamId) {
    let mut jobs = Vec::new();
    loop {
        let entries = log.read_after(cursor, 1000, None).await.expect("XREAD");
        let Some((last, _)) = entries.last() else {
            return (jobs, cursor);
        };
        cursor = *last;
        for (id, entry) in entries {
            let recorded = entry.unwrap_or_else(|e| panic!("entry {id} does not decode: {e}"));
            jobs.push(recorded.meta.job_id);
        }
    }
}

/// A `POST` as a hostile client sends it.
#[derive(Debug, Clone)]
struct Post {
    path: &'static str,
    content_type: Option<&'static str>,
    content_encodings: Vec<&'static str>,
    body: Body,
}

impl Post {
    /// The most jobs an accepted answer may create.
    fn most_jobs(&self) -> usize {
        match self.path {
            "/jobs" => 1,
            _ => MAX_BATCH,
        }
    }
}

fn post(now: DateTime<Utc>) -> impl Strategy<Value = Post> {
    let content_type = prop_oneof![
        6 => Just(Some("application/json")),
        1 => Just(None),
        2 => select(vec![
            "application/json; charset=utf-8",
            "application/problem+json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ])
        .prop_map(Some),
    ];
    let encodings = prop_oneof![
        6 => Just(Vec::new()),
        1 => vec(
            select(vec![
                "identity", "gzip", "deflate", "br", "zstd", "GZIP", "", "gzip, br", "x-custom",
            ]),
            1..=2,
        ),
    ];
    let target = prop_oneof![
        (Just("/jobs"), body(now)),
        (
            Just("/jobs/batch"),
            prop_oneof![3 => batch(now).prop_map(Body::text), 1 => body(now)]
        ),
    ];
    (target, content_type, encodings).prop_map(|((path, body), content_type, encodings)| Post {
        path,
        content_type,
        content_encodings: encodings,
        body,
    })
}

/// What the app answered to a [`Post`], and the jobs the log gained meanwhile.
#[derive(Debug)]
struct Outcome {
    status: u16,
    body: Vec<u8>,
    new_jobs: Vec<Uuid>,
}

/// The status and body of `req`'s answer; an error the app returns instead of a response is
/// answered as actix-web's server answers it.
async fn answer<S, R, B>(app: &S, req: R) -> (u16, Vec<u8>)
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let response = match app.call(req).await {
        Ok(response) => response.map_into_boxed_body().into_parts().1,
        Err(e) => e.error_response(),
    };
    let status = response.status().as_u16();
    let bytes = body::to_bytes(response.into_body())
        .await
        .unwrap_or_else(|_| panic!("the {status} answer's body cannot be read"));
    (status, bytes.to_vec())
}

#[test]
fn hostile_posts_never_answer_500_and_a_refusal_creates_no_job() {
    let system = actix_rt::System::new();
    let (api, app) = system.block_on(async {
        let settings = AppSettings {
            // Never busy: every request is answered on its merits.
            limits: Limits::NONE,
            ..AppSettings::default()
        };
        let api = LogOnlyApi::start(settings).await;
        let app = test::init_service(app(&api.state)).await;
        (api, app)
    });
    let log = EventStore::Redis(api.store.clone());
    // The jobs in the log, and the last entry read. Accepted jobs run on in the background and
    // append their own events, so the log's length moves between requests: what a refusal must
    // not do is add an entry for a job the log did not hold before.
    let seen = RefCell::new((HashSet::<Uuid>::new(), StreamId::ZERO));
    let mut runner = TestRunner::new(config(1000));
    let result = runner.run(&post(Utc::now()), |post| {
        let outcome = system.block_on(async {
            let (mut known, cursor) = seen.borrow().clone();
            let (before, cursor) = jobs_after(&log, cursor).await;
            known.extend(before);
            let mut req = TestRequest::post()
                .uri(post.path)
                .set_payload(post.body.0.clone());
            if let Some(content_type) = post.content_type {
                req = req.insert_header((header::CONTENT_TYPE, content_type));
            }
            for encoding in &post.content_encodings {
                req = req.append_header((header::CONTENT_ENCODING, *encoding));
            }
            let (status, body) = answer(&app, req.to_request()).await;
            let (after, cursor) = jobs_after(&log, cursor).await;
            let new_jobs: Vec<Uuid> = after
                .into_iter()
                .filter(|job| !known.contains(job))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            known.extend(&new_jobs);
            *seen.borrow_mut() = (known, cursor);
            Outcome {
                status,
                body,
                new_jobs,
            }
        });
        let Outcome {
            status,
            body,
            new_jobs,
        } = outcome;
        prop_assert!(
            status < 500,
            "answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        let json: Value = serde_json::from_slice(&body).map_err(|e| {
            TestCaseError::fail(format!(
                "the {status} answer is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            ))
        })?;
        if status >= 400 {
            prop_assert!(
                json["error"].as_str().is_some_and(|code| !code.is_empty()),
                "the {} answer has no error code: {}",
                status,
                json
            );
            prop_assert!(
                new_jobs.is_empty(),
                "the {} answer ({}) created jobs {:?}",
                status,
                json,
                new_jobs
            );
        } else {
            prop_assert!(
                new_jobs.len() <= post.most_jobs(),
                "one request created {} jobs",
                new_jobs.len()
            );
        }
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, post)) => {
            panic!("{reason}\nminimal failing request: {post:#?}")
        }
        Err(e) => panic!("{e}"),
    }
}

/// Every (type name, version) the decoder knows: each event's current one, and each event's
/// older versions down to 1.
fn known_schemas() -> Vec<(&'static str, u16)> {
    let mut schemas = Vec::new();
    for event in one_of_each() {
        let encoded = encode(&event).expect("every event encodes");
        for version in 1..=encoded.version {
            schemas.push((encoded.type_name, version));
        }
    }
    schemas
}

/// The encoding of each event of [`one_of_each`], with its type name and version.
fn real_encodings() -> Vec<(&'static str, u16, Vec<u8>)> {
    one_of_each()
        .iter()
        .map(|event| {
            let encoded = encode(event).expect("every event encodes");
            (encoded.type_name, encoded.version, encoded.data)
        })
        .collect()
}

/// A stored type name: a known one, one nearly so, or any string.
fn type_name() -> BoxedStrategy<String> {
    let known: Vec<String> = known_schemas()
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .collect();
    prop_oneof![
        3 => select(known.clone()),
        1 => select(known).prop_map(|name| name.to_lowercase()),
        1 => any::<String>(),
    ]
    .boxed()
}

fn version() -> BoxedStrategy<u16> {
    prop_oneof![3 => 0u16..=3, 1 => any::<u16>()].boxed()
}

proptest! {
    #![proptest_config(config(10_000))]

    #[test]
    fn the_event_decoder_never_panics_on_arbitrary_bytes_names_and_versions(
        name in type_name(),
        version in version(),
        data in vec(any::<u8>(), 0..256),
    ) {
        let _ = decode(&name, version, &data);
    }

    #[test]
    fn the_event_decoder_never_panics_on_damaged_real_encodings(
        (source, edits) in (any::<Index>(), edits()),
    ) {
        let encodings = real_encodings();
        let (name, version, data) = source.get(&encodings).clone();
        let damaged = edited(data, &edits);
        // As what it was, and as every other schema: a type field can be damaged too.
        let _ = decode(name, version, &damaged);
        for (name, version) in known_schemas() {
            let _ = decode(name, version, &damaged);
        }
    }
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn the_event_decoder_never_panics_on_real_fields_with_hostile_values(
        source in any::<Index>(),
        field in any::<Index>(),
        value in prop_oneof![
            3 => scalar(),
            2 => deadline(fixed_now()),
            1 => any_json(),
        ],
    ) {
        let encodings = real_encodings();
        let (name, version, data) = source.get(&encodings).clone();
        // The payload as a map of its named fields, one of them replaced: this reaches the
        // fields' own decoders (timestamps, enums, numbers), which random bytes rarely do.
        let mut payload: Value = rmp_serde::from_slice(&data).expect("an event reads as a map");
        let Some(fields) = payload.as_object_mut() else {
            return Err(TestCaseError::fail(format!("{name} is not a map")));
        };
        let names: Vec<String> = fields.keys().cloned().collect();
        let Ok(value) = serde_json::from_str::<Value>(&value) else {
            return Ok(());
        };
        fields.insert(field.get(&names).clone(), value);
        let hostile = rmp_serde::to_vec_named(&payload).expect("a JSON value encodes");
        let _ = decode(name, version, &hostile);
    }
}
