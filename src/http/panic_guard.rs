//! [`ContainPanics`]: the middleware that turns a panic in a handler into a 500 answer.
//!
//! Without it a panicking handler unwinds out of the task that serves its connection: the
//! connection is dropped without an answer, and the client cannot tell a bug from a network
//! fault. With it, the client gets `500 {"error": "internal", "message": "internal error;
//! nothing was changed"}`, the panic is logged and counted (`carbonq_panics_total`, by the hook
//! in [`crate::telemetry`]), and the connection serves on.
//!
//! The answer is the service's `Err`, which the dispatcher renders with [`ApiError`]'s
//! `error_response`, rather than an `Ok` response: a response needs the request, which was moved
//! into the handler and dropped with it, and the request cannot be kept aside for the purpose
//! (routing needs it unshared).
//!
//! The message is the one every internal error answers. It holds for a panic unless the handler
//! panicked after the intake had appended, where nothing is left to do but render the answer; a
//! client that sends the request again with its idempotency key gets the job it submitted either
//! way.

use std::any::Any;
use std::future::{ready, Ready};
use std::panic::{catch_unwind, AssertUnwindSafe};

use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::Error;
use futures::future::{CatchUnwind, Either, Map};
use futures::FutureExt;

use super::ApiError;
use crate::telemetry::panic_message;

/// The middleware: wrap an app or a scope with it (`.wrap(ContainPanics)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ContainPanics;

impl<S, B> Transform<S, ServiceRequest> for ContainPanics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = ContainPanicsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ContainPanicsService { service }))
    }
}

/// The service [`ContainPanics`] wraps around the next one.
#[derive(Debug)]
pub struct ContainPanicsService<S> {
    service: S,
}

/// The inner service's answer, or the panic it raised.
type Caught<R> = std::thread::Result<Result<R, Error>>;

/// The future of a call: the inner service's, or an answer ready at once if the call itself
/// panicked before it made a future. Named rather than boxed: nothing is allocated per request.
type Contained<F, R> = Either<
    Map<CatchUnwind<AssertUnwindSafe<F>>, fn(Caught<R>) -> Result<R, Error>>,
    Ready<Result<R, Error>>,
>;

impl<S, B> Service<ServiceRequest> for ContainPanicsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = Contained<S::Future, ServiceResponse<B>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // A panic in the call itself, before it made a future, is caught too.
        match catch_unwind(AssertUnwindSafe(|| self.service.call(req))) {
            Ok(future) => Either::Left(
                AssertUnwindSafe(future)
                    .catch_unwind()
                    .map(answered as fn(Caught<ServiceResponse<B>>) -> _),
            ),
            Err(panic) => Either::Right(ready(Err(internal(panic)))),
        }
    }
}

/// The inner answer, or a 500 for its panic.
fn answered<R>(caught: Caught<R>) -> Result<R, Error> {
    caught.unwrap_or_else(|panic| Err(internal(panic)))
}

/// The 500 for a panic, with its message kept for the log.
fn internal(panic: Box<dyn Any + Send>) -> Error {
    let message = panic_message(&*panic);
    ApiError::Internal(format!("a request handler panicked: {message}")).into()
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::test::{self, TestRequest};
    use actix_web::{web, App, HttpResponse};
    use serde_json::{json, Value};

    use super::*;

    async fn panics() -> HttpResponse {
        panic!("a handler that panics")
    }

    async fn answers() -> HttpResponse {
        HttpResponse::Ok().json(json!({ "ok": true }))
    }

    /// What a client would read: the response, or the error rendered as the dispatcher does.
    async fn status_and_body<S, R>(app: &S, req: R) -> (StatusCode, Value)
    where
        S: Service<R, Response = ServiceResponse, Error = Error>,
    {
        let response = match test::try_call_service(app, req).await {
            Ok(response) => response.into_parts().1,
            Err(e) => e.error_response(),
        };
        let status = response.status();
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .expect("body");
        (status, serde_json::from_slice(&body).expect("JSON body"))
    }

    #[actix_web::test]
    async fn a_panicking_handler_answers_500_json_and_the_app_serves_on() {
        let app = test::init_service(
            App::new()
                .wrap(ContainPanics)
                .route("/panics", web::get().to(panics))
                .route("/answers", web::get().to(answers)),
        )
        .await;

        let (status, body) =
            status_and_body(&app, TestRequest::get().uri("/panics").to_request()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            json!({ "error": "internal", "message": "internal error; nothing was changed" })
        );

        let (status, body) =
            status_and_body(&app, TestRequest::get().uri("/answers").to_request()).await;
        assert_eq!((status, body), (StatusCode::OK, json!({ "ok": true })));
    }

    #[test]
    fn a_panic_message_is_kept_for_the_log() {
        let from_str = internal(Box::new("boom"));
        let from_string = internal(Box::new(String::from("bang")));
        let from_other = internal(Box::new(42_u8));
        for (error, expected) in [
            (from_str, "boom"),
            (from_string, "bang"),
            (from_other, "a panic without a message"),
        ] {
            let api = error.as_error::<ApiError>().expect("an ApiError");
            assert!(
                matches!(api, ApiError::Internal(m) if m.ends_with(expected)),
                "{api:?}"
            );
        }
    }
}
