//! The HTTP floor for `scripts/bench-intake.sh`: an actix-web server whose `POST /jobs` reads
//! and parses the body exactly as `carbonq serve` does and answers a new job id, with no actors,
//! no Redis and no log. Driven by `examples/intake_load.rs` on the same machine, its rate is the
//! most any intake over HTTP could accept there, one job per request: a ceiling to read the
//! intake figures against, not a figure of carbonq's. `GET /stats` answers that no job has
//! completed (`intake_load` reads it before a run), and `GET /health` that it is up.
//!
//! Environment: `BIND` (127.0.0.1:8000).

#![allow(clippy::print_stdout)]

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use carbonq::http::jobs::read_submission;
use carbonq::http::panic_guard::ContainPanics;
use carbonq::http::ApiError;
use serde_json::json;

/// `carbonq serve`'s default body limit (`http.body_limit_bytes`).
const BODY_LIMIT: usize = 64 * 1024;

async fn submit(req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    read_submission(&req, payload, BODY_LIMIT).await?;
    Ok(HttpResponse::Ok().json(json!({
        "job_id": uuid::Uuid::now_v7(),
        "status": "QUEUED",
    })))
}

/// `GET /stats`, as much of it as `intake_load` reads: nothing runs here, so nothing completes.
async fn stats() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "performance": { "completed_jobs": 0 } }))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8000".to_owned());
    println!("http floor listening on {bind}");
    HttpServer::new(|| {
        // Wrapped as `carbonq serve`'s routes are, so that the floor does the same per request.
        App::new()
            .wrap(ContainPanics)
            .route("/jobs", web::post().to(submit))
            .route("/stats", web::get().to(stats))
            .route("/health", web::get().to(HttpResponse::Ok))
    })
    .bind(bind)?
    .run()
    .await
}
