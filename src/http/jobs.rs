//! `/jobs`: submit, list, read, explain, audit and cancel jobs.
//!
//! Writes go to the intake actor, which answers only once the event is in the log. Reads come
//! from the Redis read models; when a job's hash is not there yet (the projection runner lags the
//! log by a page at most), the orchestrator's own journal model answers instead, so a client can
//! read a job right after submitting it.

use std::collections::BTreeMap;
use std::io::Read;

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{mime, HttpMessage, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::job_page::{self, JobCursor, DEFAULT_LIMIT, MAX_LIMIT};
use super::{ApiError, AppState};
use crate::actors::intake::{Accepted, Cancel, Submit, SubmitBatch};
use crate::actors::submission::{Invalid, SubmitRequest};
use crate::clock::format_time;
use crate::policy::{Thresholds, GUARDRAIL_ID_PREFIX};
use crate::projections::{error_chain, queries};
use crate::store::EventStore;

/// A job as the API shows it: the `job:<id>` hash, every value a string (the seed's format).
pub type JobFields = BTreeMap<String, String>;

/// `POST /jobs`: `{"job_id", "status"}`, plus `"duplicate": true` when the idempotency key was
/// seen before (the first job is answered, nothing is appended).
pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let answer = async {
        let body = read_submission(&req, payload, state.body_limit).await?;
        let accepted = state.orchestrator.intake.send(Submit(body)).await??;
        Ok(HttpResponse::Ok().json(accepted_json(&accepted)))
    };
    state.refusals.count(answer.await)
}

/// The body of `POST /jobs/batch`: up to the configured number of `POST /jobs` bodies.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The jobs, each as `POST /jobs` takes it.
    pub jobs: Vec<SubmitRequest>,
}

/// `POST /jobs/batch`: `{"jobs": [...]}` answered with `{"jobs": [{"job_id", "status"}, ...]}`
/// in the same order. Every job is validated before any is appended (a bad one is refused
/// with its index in the message, and nothing is appended), and the new ones are appended
/// together in one store call. For a client submitting a sweep, as BullMQ's `addBulk`.
pub async fn submit_batch(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let answer = async {
        let BatchRequest { jobs } = read_json(&req, payload, state.batch.body_limit).await?;
        let max = state.batch.max_jobs;
        if jobs.is_empty() || jobs.len() > max {
            return Err(ApiError::Invalid(Invalid {
                code: "invalid_batch_size",
                message: format!("a batch holds 1 to {max} jobs, not {}", jobs.len()),
            }));
        }
        let accepted = state.orchestrator.intake.send(SubmitBatch(jobs)).await??;
        let jobs: Vec<_> = accepted.iter().map(accepted_json).collect();
        Ok(HttpResponse::Ok().json(json!({ "jobs": jobs })))
    };
    state.refusals.count(answer.await)
}

/// What `POST /jobs` answers for an accepted job.
fn accepted_json(accepted: &Accepted) -> serde_json::Value {
    let mut answer = json!({
        "job_id": accepted.job_id,
        "status": accepted.status.as_str(),
    });
    if accepted.duplicate {
        answer["duplicate"] = json!(true);
    }
    answer
}

/// Reads and parses a `POST /jobs` body of at most `limit` bytes.
pub async fn read_submission(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<SubmitRequest, ApiError> {
    read_json(req, payload, limit).await
}

/// Reads and parses a JSON body of at most `limit` bytes, as sent and as decoded. The limit is
/// an argument, so the body is read here rather than by a `web::Json` extractor, whose limit is
/// fixed when the routes are built.
async fn read_json<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    let coding = content_coding(req)?;
    let is_json = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let sent = payload
        .to_bytes_limited(limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })?
        .map_err(|e| ApiError::InvalidJson(format!("the body could not be read: {e}")))?;
    let body = decode(coding, sent, limit)?;
    // Parsed with the path of the field at fault kept, so an error names it:
    // `jobs[3].deadline: ...`.
    let mut fields = serde_json::Deserializer::from_slice(&body);
    serde_path_to_error::deserialize(&mut fields).map_err(ApiError::from_field_error)
}

/// How a body is encoded (`Content-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Identity,
    Gzip,
    /// HTTP's `deflate`: zlib-wrapped.
    Deflate,
}

/// The `Content-Encoding`s a body may be sent in, and an empty value, which names no coding.
const CODINGS: [(&str, Coding); 4] = [
    ("", Coding::Identity),
    ("identity", Coding::Identity),
    ("gzip", Coding::Gzip),
    ("deflate", Coding::Deflate),
];

/// The body's coding; any other, or several, is refused.
fn content_coding(req: &HttpRequest) -> Result<Coding, ApiError> {
    let mut values = req.headers().get_all(header::CONTENT_ENCODING);
    let Some(first) = values.next() else {
        return Ok(Coding::Identity);
    };
    // Named in the answer, cut short: a header can be kilobytes long.
    let named = |v: &header::HeaderValue| -> String {
        String::from_utf8_lossy(v.as_bytes())
            .chars()
            .take(64)
            .collect()
    };
    if let Some(second) = values.next() {
        let both = format!("{}, {}", named(first), named(second));
        return Err(ApiError::UnsupportedContentEncoding(both));
    }
    let value = first.to_str().map(str::trim).unwrap_or("?");
    CODINGS
        .iter()
        .find(|(name, _)| value.eq_ignore_ascii_case(name))
        .map(|(_, coding)| *coding)
        .ok_or_else(|| ApiError::UnsupportedContentEncoding(named(first)))
}

/// Decodes `sent`, stopping at `limit` bytes of output: a small compressed body can expand a
/// thousandfold, and is refused as too large before more than the limit is held in memory.
fn decode(coding: Coding, sent: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    let mut decoder: Box<dyn Read + '_> = match coding {
        Coding::Identity => return Ok(sent),
        Coding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&sent[..])),
        Coding::Deflate => Box::new(flate2::read::ZlibDecoder::new(&sent[..])),
    };
    let mut body = Vec::with_capacity(sent.len().saturating_mul(4).min(limit));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    (&mut decoder)
        .take(cap)
        .read_to_end(&mut body)
        .map_err(|e| ApiError::InvalidJson(format!("the body could not be read: {e}")))?;
    if body.len() > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    Ok(Bytes::from(body))
}

/// The query of `GET /jobs`.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// Jobs per page: 50 by default, at most 500.
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of `GET /jobs`.
#[derive(Debug, Serialize)]
pub struct JobsPage {
    /// The jobs, oldest first.
    pub jobs: Vec<JobFields>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// `GET /jobs?limit=&cursor=`: jobs oldest first, one page at a time.
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let PageQuery { limit, cursor } = query.into_inner();
    let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let after = cursor
        .map(|c| {
            c.parse::<JobCursor>()
                .map_err(|_| ApiError::InvalidCursor(c))
        })
        .transpose()?;
    let (keys, mut conn) = (state.store.keys(), state.store.connection());
    let (page, next) = job_page::read_page(&mut conn, keys, after, limit).await?;
    let ids: Vec<Uuid> = page.iter().map(|c| c.job_id).collect();
    let hashes = job_page::read_hashes(&mut conn, keys, &ids).await?;
    let jobs = ids
        .iter()
        .zip(hashes)
        .filter_map(|(id, hash)| {
            if hash.is_empty() {
                from_journal(&state, id)
            } else {
                Some(hash)
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(JobsPage {
        jobs,
        next_cursor: next.map(|c| c.to_string()),
    }))
}

/// `GET /jobs/{id}`: the job's fields, or 404 `{"detail": "Job not found"}`.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&path)?;
    Ok(HttpResponse::Ok().json(load(&state, &id).await?))
}

/// The explainability block of `GET /jobs/{id}/explain`: the policy in force now.
#[derive(Debug, Serialize)]
pub struct Explainability {
    /// `low` and `high`, gCO2/kWh.
    pub thresholds: Thresholds,
    /// The longest a job may stay deferred.
    pub max_deferral_seconds: u64,
    /// One line per rule and per guardrail.
    pub notes: Vec<String>,
}

/// `GET /jobs/{id}/explain`, in the seed's shape.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// The job.
    pub job_id: String,
    /// Its status.
    pub status: Option<String>,
    /// `FAST`, `ECO` or `DEFER`, once routed.
    pub mode: Option<String>,
    /// As submitted.
    pub urgency: Option<String>,
    /// The job's `type`.
    pub job_type: Option<String>,
    /// gCO2/kWh when it was last routed.
    pub carbon_intensity_at_decision: Option<f64>,
    /// The rule (or guardrail) that routed it.
    pub policy_rule_id: Option<String>,
    /// Why, in words.
    pub decision_reason: Option<String>,
    /// Whether a guardrail overrode the rules.
    pub guardrail_applied: bool,
    /// Deferred until at most this, epoch seconds.
    pub defer_deadline_ts: Option<i64>,
    /// The policy behind the decision.
    pub explainability: Explainability,
}

/// `GET /jobs/{id}/explain`: why the job was routed as it was.
pub async fn explain(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&path)?;
    let mut job = load(&state, &id).await?;
    let policy = state.orchestrator.svc.policy().explain();
    let policy_rule_id = job.remove("policy_rule_id");
    Ok(HttpResponse::Ok().json(Explanation {
        job_id: id.to_string(),
        status: job.remove("status"),
        mode: job.remove("mode"),
        urgency: job.remove("urgency"),
        job_type: job.remove("type"),
        carbon_intensity_at_decision: job
            .get("carbon_intensity_at_decision")
            .and_then(|v| v.parse().ok()),
        guardrail_applied: policy_rule_id
            .as_deref()
            .is_some_and(|r| r.starts_with(GUARDRAIL_ID_PREFIX)),
        policy_rule_id,
        decision_reason: job.remove("decision_reason"),
        defer_deadline_ts: job.get("defer_deadline_ts").and_then(|v| v.parse().ok()),
        explainability: Explainability {
            thresholds: policy.thresholds,
            max_deferral_seconds: policy.max_deferral_seconds,
            notes: policy.notes,
        },
    }))
}

/// One line of `GET /jobs/{id}/events`.
#[derive(Debug, Serialize)]
pub struct EventLine {
    /// Position in the stream.
    pub stream_id: String,
    /// When the store recorded it (`null` if the entry does not decode).
    pub recorded_at: Option<String>,
    /// The job's version after it.
    pub version: Option<u64>,
    /// `JobSubmitted`, ... (`unreadable` if the entry does not decode).
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// What happened, in words (or why the entry does not decode).
    pub summary: String,
}

/// `GET /jobs/{id}/events`: `{"job_id", "events": [...]}`, oldest first, from the log itself.
pub async fn events(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&path)?;
    let history = EventStore::Redis(state.store.clone())
        .job_history(id)
        .await?;
    if history.is_empty() {
        return Err(ApiError::JobNotFound);
    }
    let events: Vec<EventLine> = history
        .into_iter()
        .map(|(stream_id, entry)| match entry {
            Ok(recorded) => EventLine {
                stream_id: stream_id.to_string(),
                recorded_at: Some(format_time(recorded.meta.recorded_at)),
                version: Some(recorded.meta.job_version),
                event_type: recorded.event.type_name(),
                summary: recorded.event.describe(),
            },
            Err(e) => EventLine {
                stream_id: stream_id.to_string(),
                recorded_at: None,
                version: None,
                event_type: "unreadable",
                summary: error_chain(&e),
            },
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "job_id": id, "events": events })))
}

/// `DELETE /jobs/{id}`: cancels a job that has not started; cancelling a cancelled job again
/// answers the same.
pub async fn cancel(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&path)?;
    let status = state.orchestrator.intake.send(Cancel(id)).await??;
    Ok(HttpResponse::Ok().json(json!({ "job_id": id, "status": status.as_str() })))
}

/// The id in the path; anything but a UUID names no job.
fn job_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::JobNotFound)
}

/// The job's hash, or the journal's view of it while the projection catches up.
async fn load(state: &AppState, id: &Uuid) -> Result<JobFields, ApiError> {
    let mut conn = state.store.connection();
    match queries::job_hash(&mut conn, state.store.keys(), id).await? {
        Some(hash) => Ok(hash),
        None => {
            // No hash: the job's first page has not landed yet, or Redis lost it. The journal
            // answers only while the log still reaches what this process appended or read.
            state.store.check_floor().await?;
            from_journal(state, id).ok_or(ApiError::JobNotFound)
        }
    }
}

/// The job as the orchestrator's journal model knows it, rendered as the hash would be.
fn from_journal(state: &AppState, id: &Uuid) -> Option<JobFields> {
    let model = state.orchestrator.svc.journal.model();
    let view = model.job(id)?;
    Some(
        view.fields()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}
