//! `GET /health` and `GET /`: liveness and the map of the API, in the seed's shapes.

use actix_web::HttpResponse;
use serde_json::json;

use super::ApiError;

/// Every endpoint, as `"METHOD path"` → what it does; served by `GET /`.
pub const ENDPOINTS: [(&str, &str); 12] = [
    ("GET /health", "liveness"),
    ("GET /", "this map"),
    ("POST /jobs", "submit a job"),
    (
        "POST /jobs/batch",
        "submit up to http.max_batch jobs at once ({\"jobs\": [...]})",
    ),
    (
        "GET /jobs",
        "list jobs, oldest first, by page (?limit=&cursor=)",
    ),
    ("GET /jobs/{id}", "one job"),
    ("DELETE /jobs/{id}", "cancel a job that has not started"),
    ("GET /jobs/{id}/explain", "why the job was routed as it was"),
    ("GET /jobs/{id}/events", "the job's event history"),
    (
        "GET /stats",
        "queue depths, job counts, run times, emissions",
    ),
    ("GET /queues", "depth and head of each queue"),
    (
        "GET /metrics",
        "job counts, energy, emissions, queue depths and grid intensity for Prometheus",
    ),
];

/// `{"ok": true, "service": "api"}`: the process answers.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "ok": true, "service": "api" }))
}

/// The system's name and a map of its endpoints.
pub async fn index() -> HttpResponse {
    let endpoints: serde_json::Map<String, serde_json::Value> = ENDPOINTS
        .iter()
        .map(|(route, what)| ((*route).to_owned(), json!(what)))
        .collect();
    HttpResponse::Ok().json(json!({
        "name": "carbonq",
        "description": "carbon-aware, event-sourced job orchestrator",
        "endpoints": endpoints,
    }))
}

/// The answer for a path no route matches.
pub async fn no_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}

/// The answer for a known path asked with a method it does not serve.
pub async fn no_method() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}
