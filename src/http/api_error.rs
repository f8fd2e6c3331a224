//! Every way an HTTP request can fail, and the one place each is mapped to a status code.
//!
//! Errors answer a JSON body with a machine-readable `error` code and a human `message`. The job
//! 404 answers the seed's FastAPI body `{"detail": "Job not found"}` alone, byte for byte, which
//! its clients read; the route 404 and the 405 keep the seed's `detail` beside `error` and
//! `message`. Internal failures (a contained panic among them) are logged in full and answered
//! without detail.

use actix::MailboxError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use uuid::Uuid;

use crate::actors::intake::Rejection;
use crate::actors::submission::Invalid;
use crate::projections::error_chain;
use crate::store::StoreError;

/// Seconds a client should wait before retrying when the intake is busy.
const RETRY_BUSY_S: u32 = 1;
/// Seconds a client should wait before retrying when the store is unreachable.
const RETRY_STORE_S: u32 = 5;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or a field has the wrong type.
    #[error("{0}")]
    InvalidJson(String),
    /// The body has a field the API does not know.
    #[error("{0}")]
    UnknownField(String),
    /// The query string does not parse.
    #[error("{0}")]
    InvalidQuery(String),
    /// The paging cursor is not one this API handed out.
    #[error("cursor {0:?} is not a cursor from a previous page")]
    InvalidCursor(String),
    /// The body is larger than the configured limit.
    #[error("the body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// The body is not `application/json`.
    #[error("the body must be sent as application/json")]
    UnsupportedMediaType,
    /// The body is compressed in a way this server does not decode.
    #[error("content-encoding {0:?} is not supported: send the body as identity, gzip or deflate")]
    UnsupportedContentEncoding(String),
    /// The submission parsed but is refused (unknown urgency, deadline in the past, ...).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// No such job (or the id is not a UUID).
    #[error("job not found")]
    JobNotFound,
    /// No such route.
    #[error("no route has this path (GET / lists the endpoints)")]
    RouteNotFound,
    /// The route exists but not with this method.
    #[error("this path does not take this method (GET / lists the endpoints)")]
    MethodNotAllowed,
    /// The job has started or finished and can no longer be cancelled.
    #[error("job {0} has already started or finished")]
    NotCancellable(Uuid),
    /// Too much work is waiting; retry soon.
    #[error("{0}")]
    Busy(String),
    /// The store cannot be reached; retry later.
    #[error("{0}")]
    StoreUnavailable(String),
    /// Anything else; the detail is logged, not answered.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The machine-readable code in the body's `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::UnknownField(_) => "unknown_field",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::InvalidCursor(_) => "invalid_cursor",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::UnsupportedContentEncoding(_) => "unsupported_content_encoding",
            ApiError::Invalid(i) => i.code,
            ApiError::JobNotFound | ApiError::RouteNotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::NotCancellable(_) => "not_cancellable",
            ApiError::Busy(_) => "busy",
            ApiError::StoreUnavailable(_) => "store_unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The `Retry-After` seconds, for failures that pass.
    fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::Busy(_) => Some(RETRY_BUSY_S),
            ApiError::StoreUnavailable(_) => Some(RETRY_STORE_S),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_)
            | ApiError::UnknownField(_)
            | ApiError::InvalidQuery(_)
            | ApiError::InvalidCursor(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType | ApiError::UnsupportedContentEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::JobNotFound | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotCancellable(_) => StatusCode::CONFLICT,
            ApiError::Busy(_) | ApiError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(s) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        let body = match self {
            // The seed's FastAPI body, byte for byte: its clients read `detail`.
            ApiError::JobNotFound => json!({ "detail": "Job not found" }),
            // The seed's `detail`, and the code and message every other error has.
            ApiError::RouteNotFound => json!({
                "detail": "Not Found",
                "error": self.code(),
                "message": self.to_string(),
            }),
            ApiError::MethodNotAllowed => json!({
                "detail": "Method Not Allowed",
                "error": self.code(),
                "message": self.to_string(),
            }),
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                json!({ "error": self.code(), "message": "internal error; nothing was changed" })
            }
            ApiError::StoreUnavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                json!({
                    "error": self.code(),
                    "message": "the event store is unavailable; retry later",
                })
            }
            other => json!({ "error": other.code(), "message": other.to_string() }),
        };
        response.json(body)
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::Invalid(i) => ApiError::Invalid(i),
            Rejection::Busy(m) => ApiError::Busy(m),
            Rejection::Unavailable(m) => ApiError::StoreUnavailable(m),
            Rejection::NotFound(_) => ApiError::JobNotFound,
            Rejection::NotCancellable(id) => ApiError::NotCancellable(id),
            Rejection::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<StoreError> for ApiError {
    /// Redis being away or answering with an error is worth a retry; anything else is ours.
    fn from(e: StoreError) -> Self {
        let chain = error_chain(&e);
        match e {
            StoreError::Unavailable { .. } | StoreError::Redis(_) => {
                ApiError::StoreUnavailable(chain)
            }
            // Fenced or rewound: this process cannot serve the log now; its supervisor's
            // restart will.
            e if e.is_unavailable() => ApiError::StoreUnavailable(chain),
            _ => ApiError::Internal(chain),
        }
    }
}

impl From<MailboxError> for ApiError {
    /// A timed-out mailbox means the intake is overloaded; a closed one is a bug or shutdown.
    fn from(e: MailboxError) -> Self {
        match e {
            MailboxError::Timeout => ApiError::Busy("the intake did not answer in time".into()),
            MailboxError::Closed => ApiError::Internal("the intake has stopped".into()),
        }
    }
}

impl ApiError {
    /// A body that is JSON but whose field at `e.path()` has the wrong type or value: the
    /// message starts with the field (`duration_s: invalid type: ...`).
    pub fn from_field_error(e: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // `deny_unknown_fields` reports through serde's generic data error; its text is the only
        // thing that tells it apart from a wrong type. Its path ends with the unknown field,
        // which the text names already: the object it is in is what the path adds.
        if inner.starts_with("unknown field `") {
            return ApiError::UnknownField(match path.rsplit_once('.') {
                Some((object, _)) => format!("{object}: {inner}"),
                None => inner,
            });
        }
        ApiError::InvalidJson(if path == "." {
            inner
        } else {
            format!("{path}: {inner}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rejection_gets_its_status_code() {
        let invalid = Invalid {
            code: "unknown_urgency",
            message: "no".into(),
        };
        let cases = [
            (Rejection::Invalid(invalid), 422),
            (Rejection::Busy("full".into()), 503),
            (Rejection::Unavailable("down".into()), 503),
            (Rejection::NotFound(Uuid::nil()), 404),
            (Rejection::NotCancellable(Uuid::nil()), 409),
            (Rejection::Internal("bug".into()), 500),
        ];
        for (rejection, status) in cases {
            assert_eq!(ApiError::from(rejection).status_code().as_u16(), status);
        }
    }

    #[test]
    fn busy_and_unavailable_tell_the_client_when_to_retry() {
        let busy = ApiError::Busy("full".into()).error_response();
        let down = ApiError::StoreUnavailable("down".into()).error_response();
        assert_eq!(busy.headers().get(header::RETRY_AFTER).unwrap(), "1");
        assert_eq!(down.headers().get(header::RETRY_AFTER).unwrap(), "5");
    }

    #[test]
    fn an_unknown_field_is_told_apart_from_a_wrong_type() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            n: u32,
        }
        let parse = |text: &str| {
            let mut fields = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize::<_, Body>(&mut fields).unwrap_err()
        };
        let unknown = ApiError::from_field_error(parse(r#"{"n": 1, "x": 2}"#));
        let wrong = ApiError::from_field_error(parse(r#"{"n": "one"}"#));
        assert_eq!(unknown.code(), "unknown_field");
        assert_eq!(wrong.code(), "invalid_json");
        assert!(wrong.to_string().starts_with("n: invalid type"), "{wrong}");
    }
}
