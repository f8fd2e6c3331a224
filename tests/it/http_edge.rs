//! The edges of the HTTP layer: every error answer is JSON with a code (unknown routes and
//! methods too), a body in an encoding the server does not decode is refused, and a panicking
//! handler answers 500 over a real connection.

use std::io::Write;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header;
use actix_web::test::{self, TestRequest};
use actix_web::{web, App, HttpResponse, HttpServer};
use carbonq::http::panic_guard::ContainPanics;
use serde_json::{json, Value};

use crate::support::app::{app, json_body, log_len, AppSettings, LogOnlyApi, BODY_LIMIT};

/// A job `POST /jobs` accepts.
const JOB: &str = r#"{"type": "train", "urgency": "normal"}"#;

/// The status and JSON body of `req`'s answer (`Null` for an empty body).
async fn send<S, R, B>(app: &S, req: R) -> (u16, Value)
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(app, req).await;
    let status = response.status().as_u16();
    (status, json_body(response).await)
}

/// A JSON `POST` of `body` to `path`.
fn post(path: &str, body: impl Into<Vec<u8>>) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(body.into())
}

/// Whether `body` is `{"error": <code>, "message": <text>, ...}` with this code.
fn has_code(body: &Value, code: &str) -> bool {
    body["error"] == code && body["message"].as_str().is_some_and(|m| !m.is_empty())
}

#[actix_web::test]
async fn unknown_routes_and_methods_answer_a_code_and_a_message_beside_the_seeds_detail() {
    let api = LogOnlyApi::start(AppSettings::default()).await;
    let app = test::init_service(app(&api.state)).await;
    let cases = [
        (
            TestRequest::get().uri("/nowhere"),
            404,
            "Not Found",
            "not_found",
        ),
        (post("/nowhere", JOB), 404, "Not Found", "not_found"),
        (
            TestRequest::put().uri("/jobs"),
            405,
            "Method Not Allowed",
            "method_not_allowed",
        ),
        (
            TestRequest::get().uri("/jobs/batch"),
            405,
            "Method Not Allowed",
            "method_not_allowed",
        ),
        (
            TestRequest::post().uri("/health"),
            405,
            "Method Not Allowed",
            "method_not_allowed",
        ),
    ];
    for (req, status, detail, code) in cases {
        let (got, body) = send(&app, req.to_request()).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["detail"], detail, "{body}");
        assert!(has_code(&body, code), "{body}");
    }
    // The job 404 stays the seed's body, byte for byte: its clients read it.
    let unknown = "/jobs/01900000-0000-7000-8000-000000000999";
    let (status, body) = send(&app, TestRequest::get().uri(unknown).to_request()).await;
    assert_eq!((status, body), (404, json!({ "detail": "Job not found" })));
    assert_eq!(log_len(&api.store).await, 0);
}

#[actix_web::test]
async fn a_body_refused_before_it_is_parsed_is_answered_in_json_with_a_code() {
    let api = LogOnlyApi::start(AppSettings::default()).await;
    let app = test::init_service(app(&api.state)).await;
    let too_large = format!(r#"{{"type": "{}"}}"#, "x".repeat(2 * BODY_LIMIT));
    let cases = [
        (post("/jobs", too_large.clone()), 413, "payload_too_large"),
        (
            post("/jobs/batch", "x".repeat(20 * BODY_LIMIT)),
            413,
            "payload_too_large",
        ),
        (
            TestRequest::post().uri("/jobs").set_payload(JOB),
            415,
            "unsupported_media_type",
        ),
        (post("/jobs", r#"{"type": "#), 400, "invalid_json"),
        (post("/jobs/batch", "[1, 2]"), 400, "invalid_json"),
    ];
    for (req, status, code) in cases {
        let (got, body) = send(&app, req.to_request()).await;
        assert_eq!(got, status, "{code}: {body}");
        assert!(has_code(&body, code), "{code}: {body}");
    }
    assert_eq!(log_len(&api.store).await, 0);
}

#[actix_web::test]
async fn a_body_in_an_encoding_the_server_does_not_decode_is_refused_and_appends_nothing() {
    let api = LogOnlyApi::start(AppSettings::default()).await;
    let app = test::init_service(app(&api.state)).await;
    let batch = format!(r#"{{"jobs": [{JOB}]}}"#);
    // `br` and `zstd` are encodings actix-web knows but, without their features, passes on
    // undecoded; the others it does not know at all.
    let encodings = ["br", "zstd", "compress", "x-gzip", "gzip, br", "rot13"];
    for (path, body) in [("/jobs", JOB), ("/jobs/batch", batch.as_str())] {
        for encoding in encodings {
            let req = post(path, body).insert_header((header::CONTENT_ENCODING, encoding));
            let (status, answer) = send(&app, req.to_request()).await;
            assert_eq!(status, 415, "{path} {encoding:?}: {answer}");
            assert!(
                has_code(&answer, "unsupported_content_encoding"),
                "{path} {encoding:?}: {answer}"
            );
        }
        // Two encodings in two headers: actix-web would decode the first only.
        let twice = post(path, gzip(body.as_bytes()))
            .append_header((header::CONTENT_ENCODING, "gzip"))
            .append_header((header::CONTENT_ENCODING, "gzip"));
        let (status, answer) = send(&app, twice.to_request()).await;
        assert_eq!(status, 415, "{path} gzip twice: {answer}");
        assert!(
            has_code(&answer, "unsupported_content_encoding"),
            "{answer}"
        );
    }
    assert_eq!(
        log_len(&api.store).await,
        0,
        "a refused body appended to the log"
    );
}

/// A compressed body is limited as it is decoded: one that would decode past the limit (here a
/// few hundred bytes that expand a thousandfold) is refused as too large, not held in memory.
#[actix_web::test]
async fn a_compressed_body_that_decodes_past_the_limit_is_refused_as_too_large() {
    let api = LogOnlyApi::start(AppSettings::default()).await;
    let app = test::init_service(app(&api.state)).await;
    let padded = format!(r#"{{"type": "train"{}}}"#, " ".repeat(300_000));
    for (encoding, encoded) in [
        ("gzip", gzip(padded.as_bytes())),
        ("deflate", zlib(padded.as_bytes())),
    ] {
        assert!(
            encoded.len() < BODY_LIMIT,
            "{encoding}: {} bytes",
            encoded.len()
        );
        let req = post("/jobs", encoded).insert_header((header::CONTENT_ENCODING, encoding));
        let (status, answer) = send(&app, req.to_request()).await;
        assert_eq!(status, 413, "{encoding}: {answer}");
        assert!(has_code(&answer, "payload_too_large"), "{answer}");
    }
    assert_eq!(log_len(&api.store).await, 0);
}

#[actix_web::test]
async fn a_body_in_an_encoding_the_server_decodes_is_accepted() {
    let api = LogOnlyApi::start(AppSettings::default()).await;
    let app = test::init_service(app(&api.state)).await;
    // A body that says gzip and is not: refused as a body that does not read.
    let req = post("/jobs", JOB).insert_header((header::CONTENT_ENCODING, "gzip"));
    let (status, answer) = send(&app, req.to_request()).await;
    assert_eq!(status, 400, "{answer}");
    assert!(has_code(&answer, "invalid_json"), "{answer}");
    assert_eq!(
        answer["message"],
        "the body could not be read: invalid gzip header"
    );
    assert_eq!(log_len(&api.store).await, 0);

    let batch = format!(r#"{{"jobs": [{JOB}]}}"#);
    for (path, body) in [("/jobs", JOB), ("/jobs/batch", batch.as_str())] {
        let bytes = body.as_bytes();
        let cases = [
            ("identity", bytes.to_vec()),
            ("", bytes.to_vec()),
            ("gzip", gzip(bytes)),
            (" GZip ", gzip(bytes)),
            ("deflate", zlib(bytes)),
        ];
        for (encoding, encoded) in cases {
            let before = log_len(&api.store).await;
            let req = post(path, encoded).insert_header((header::CONTENT_ENCODING, encoding));
            let (status, answer) = send(&app, req.to_request()).await;
            assert_eq!(status, 200, "{path} {encoding:?}: {answer}");
            let job = if path == "/jobs" {
                &answer
            } else {
                &answer["jobs"][0]
            };
            assert!(job["job_id"].is_string(), "{path} {encoding:?}: {answer}");
            assert!(log_len(&api.store).await > before, "{path} {encoding:?}");
        }
    }
}

async fn panics() -> HttpResponse {
    panic!("a handler that panics")
}

async fn answers() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "ok": true }))
}

#[actix_web::test]
async fn a_panicking_handler_answers_500_json_on_its_connection_and_the_server_serves_on() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let server = HttpServer::new(|| {
        App::new()
            .wrap(ContainPanics)
            .route("/panics", web::get().to(panics))
            .route("/answers", web::get().to(answers))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    // One connection for all three requests: the panic must not cost the client its connection.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    for (path, status, expected) in [
        (
            "/panics",
            500,
            json!({ "error": "internal", "message": "internal error; nothing was changed" }),
        ),
        ("/answers", 200, json!({ "ok": true })),
        (
            "/panics",
            500,
            json!({ "error": "internal", "message": "internal error; nothing was changed" }),
        ),
    ] {
        let response = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: no answer: {e}"));
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE.as_str()],
            "application/json",
            "{path}"
        );
        let body: Value = response.json().await.expect("JSON body");
        assert_eq!(body, expected, "{path}");
    }
    handle.stop(true).await;
}

/// `data` gzip-compressed.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("in memory");
    encoder.finish().expect("in memory")
}

/// `data` as a zlib stream: what HTTP calls `deflate`.
fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("in memory");
    encoder.finish().expect("in memory")
}
