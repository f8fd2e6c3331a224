//! The HTTP API: actix-web handlers over the orchestrator (writes) and the Redis read models
//! (reads). It speaks the seed prototype's wire format; this module is the only place HTTP status
//! codes are chosen ([`api_error`]).
//!
//! - [`health`]: `GET /health`, `GET /`.
//! - [`jobs`]: `POST /jobs`, `POST /jobs/batch`, `GET /jobs`, `GET`/`DELETE /jobs/{id}`,
//!   `GET /jobs/{id}/explain`, `GET /jobs/{id}/events`.
//! - [`stats`]: `GET /stats`, `GET /queues`.
//! - [`job_page`]: cursor paging over the `jobs:index` sorted set.
//! - [`api_error`]: every failure, its status code and JSON body.
//! - [`panic_guard`]: a panic in a handler answers 500 instead of dropping the connection.
//!
//! Invariant: a request that is refused appends nothing. Writes go through the intake actor,
//! which validates before it appends; a body that does not parse never reaches it.
//!
//! Where carbonq differs from the seed: `GET /jobs` answers one page
//! (`{"jobs": [...], "next_cursor": ...}`) instead of every job, because the seed's walk of
//! `KEYS job:*` blocks Redis; `POST /jobs` accepts optional `deadline`, `duration_s`, `power_w`,
//! `idempotency_key` and `tenant`, and refuses what it cannot honour with 4xx instead of storing it.

pub mod api_error;
pub mod health;
pub mod job_page;
pub mod jobs;
pub mod metrics;
pub mod panic_guard;
pub mod stats;

use actix_web::web;

use crate::actors::Orchestrator;
use crate::store::RedisStore;

pub use api_error::ApiError;

/// What every handler shares, registered as `web::Data<AppState>`.
#[derive(Clone)]
pub struct AppState {
    /// The running actors; submissions and cancellations go to its intake.
    pub orchestrator: Orchestrator,
    /// The Redis the read models live in.
    pub store: RedisStore,
    /// Largest accepted request body, bytes.
    pub body_limit: usize,
    /// Most jobs in one `POST /jobs/batch`, and the largest body it accepts, bytes.
    pub batch: BatchLimits,
    /// Submissions answered with an error, by its code, for `GET /metrics`.
    pub refusals: std::sync::Arc<metrics::Refusals>,
}

/// The bounds of `POST /jobs/batch`.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Most jobs in one request.
    pub max_jobs: usize,
    /// Largest body, bytes.
    pub body_limit: usize,
}

/// Registers every route; the app must also hold a `web::Data<AppState>`. Every route, and the
/// answers for unknown paths and methods, run under [`panic_guard::ContainPanics`].
pub fn routes(cfg: &mut web::ServiceConfig) {
    let resource = |path: &str| web::resource(path).default_service(web::to(health::no_method));
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| ApiError::InvalidQuery(e.to_string()).into()),
    )
    .service(
        // A scope with an empty prefix matches every path: the one place to wrap them all, as
        // a `ServiceConfig` cannot wrap the app it configures.
        web::scope("")
            .wrap(panic_guard::ContainPanics)
            .service(resource("/health").route(web::get().to(health::health)))
            .service(resource("/").route(web::get().to(health::index)))
            .service(
                resource("/jobs")
                    .route(web::post().to(jobs::submit))
                    .route(web::get().to(jobs::list)),
            )
            .service(resource("/jobs/batch").route(web::post().to(jobs::submit_batch)))
            .service(
                resource("/jobs/{id}")
                    .route(web::get().to(jobs::get))
                    .route(web::delete().to(jobs::cancel)),
            )
            .service(resource("/jobs/{id}/explain").route(web::get().to(jobs::explain)))
            .service(resource("/jobs/{id}/events").route(web::get().to(jobs::events)))
            .service(resource("/stats").route(web::get().to(stats::stats)))
            .service(resource("/queues").route(web::get().to(stats::queues)))
            .service(resource("/metrics").route(web::get().to(metrics::metrics)))
            .default_service(web::to(health::no_route)),
    );
}
