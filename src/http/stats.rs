//! `GET /stats` and `GET /queues`: counters and queue lengths from the Redis read models,
//! read in one round trip each; nothing scans keys.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{ApiError, AppState};
use crate::projections::queries;

/// The seed's `/stats` document (carbonq adds fields inside each group).
pub async fn stats(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.store.connection();
    let report = queries::stats(&mut conn, state.store.keys()).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// `{"queues": [...]}`: depth and next job of `PENDING`, `FAST`, `ECO` and `DEFERRED`.
pub async fn queues(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.store.connection();
    let queues = queries::queues(&mut conn, state.store.keys()).await?;
    Ok(HttpResponse::Ok().json(json!({ "queues": queues })))
}
