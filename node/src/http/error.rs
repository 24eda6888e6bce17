//! The HTTP gateway's one error type and its one mapping to the wire: a status code and a JSON body
//! `{"code": "...", "message": "...", ...details}` whose codes are the state machine's stable codes
//! plus the gateway's own (auth, limits, overload).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use boxoffice_client::ClientError;
use boxoffice_statemachine::{HoldStatus, Rejection};
use serde_json::{json, Map, Value};

use super::model::hold_status;

/// Why a request got no success answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The request is malformed (JSON, fields, parameters, ids); nothing changed.
    #[error("{0}")]
    Invalid(String),
    #[error("the request body exceeds {0} bytes")]
    PayloadTooLarge(usize),
    /// The body is not declared `Content-Type: application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("missing or unknown API key")]
    Unauthenticated,
    #[error("this API key may not {0}")]
    Forbidden(&'static str),
    /// A gated event's waiting room has not let this buyer through (no, a bad, or an expired token).
    #[error("{message}")]
    AccessDenied { code: &'static str, message: String },
    /// No such route or resource.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The store refused the command: an answer, with the state machine's stable code.
    #[error(transparent)]
    Rejected(Rejection),
    #[error("too many requests from this client; retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("the node is at its limit of requests in flight")]
    Overloaded,
    #[error("unavailable, not applied: {0}")]
    Unavailable(String),
    /// The command may or may not have been applied; a retry with the same Idempotency-Key is safe.
    #[error("outcome unknown: {reason}; retry with the same Idempotency-Key")]
    OutcomeUnknown { reason: String },
    /// A bug or an unreadable answer from the store.
    #[error("internal error: {0}")]
    Internal(String),
}

impl HttpError {
    pub fn invalid(message: impl Into<String>) -> HttpError {
        HttpError::Invalid(message.into())
    }

    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            HttpError::Invalid(_) => "INVALID_REQUEST",
            HttpError::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            HttpError::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            HttpError::Unauthenticated => "UNAUTHENTICATED",
            HttpError::Forbidden(_) => "FORBIDDEN",
            HttpError::AccessDenied { code, .. } => code,
            HttpError::NotFound { code, .. } => code,
            HttpError::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            HttpError::Rejected(rejection) => rejection.code(),
            HttpError::RateLimited { .. } => "RATE_LIMITED",
            HttpError::Overloaded => "OVERLOADED",
            HttpError::Unavailable(_) => "UNAVAILABLE",
            HttpError::OutcomeUnknown { .. } => "OUTCOME_UNKNOWN",
            HttpError::Internal(_) => "INTERNAL",
        }
    }

    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::Invalid(_) => StatusCode::BAD_REQUEST,
            HttpError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            HttpError::Unauthenticated => StatusCode::UNAUTHORIZED,
            HttpError::Forbidden(_) | HttpError::AccessDenied { .. } => StatusCode::FORBIDDEN,
            HttpError::NotFound { .. } => StatusCode::NOT_FOUND,
            HttpError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::Rejected(rejection) => rejection_status(rejection),
            HttpError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            HttpError::Overloaded | HttpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::OutcomeUnknown { .. } => StatusCode::GATEWAY_TIMEOUT,
            HttpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds the caller should wait before retrying, for load shedding.
    fn retry_after_s(&self) -> Option<u64> {
        match self {
            HttpError::RateLimited { retry_after_s } => Some(*retry_after_s),
            HttpError::Overloaded | HttpError::Unavailable(_) => Some(1),
            _ => None,
        }
    }

    /// The JSON body: code, message, and the details of a rejection.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("code".into(), json!(self.code()));
        body.insert("message".into(), json!(self.to_string()));
        if let HttpError::Rejected(rejection) = self {
            body.extend(rejection_details(rejection));
        }
        if let Some(seconds) = self.retry_after_s() {
            body.insert("retry_after_s".into(), json!(seconds));
        }
        Value::Object(body)
    }
}

/// Where each state-machine rejection lands among HTTP statuses: 404 for what does not exist, 409
/// for conflicts with the current state, 422 for limits and reused idempotency keys, 403 for a buyer
/// the waiting room has not admitted (or whose admission expired).
pub fn rejection_status(rejection: &Rejection) -> StatusCode {
    match rejection {
        Rejection::InvalidRequest { .. } | Rejection::UnknownSeat { .. } => StatusCode::BAD_REQUEST,
        Rejection::UnknownEvent | Rejection::UnknownHold | Rejection::UnknownOrder => {
            StatusCode::NOT_FOUND
        }
        Rejection::EventExists
        | Rejection::EventNotOnSale { .. }
        | Rejection::InvalidTransition { .. }
        | Rejection::SeatUnavailable { .. }
        | Rejection::InsufficientInventory { .. }
        | Rejection::HoldExpired
        | Rejection::HoldNotActive { .. }
        | Rejection::NotHolder
        | Rejection::OrderNotActive
        | Rejection::NotGated
        | Rejection::SaleNotStarted => StatusCode::CONFLICT,
        Rejection::NotAdmitted | Rejection::AdmissionExpired => StatusCode::FORBIDDEN,
        Rejection::LimitExceeded { .. } | Rejection::RequestIdReused => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        // The node answers a command on a moving event with a retryable error, not this; should
        // it get through, the caller retries.
        Rejection::EventMoved => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn rejection_details(rejection: &Rejection) -> Map<String, Value> {
    let details = match rejection {
        Rejection::EventNotOnSale { status } => json!({ "event_status": status.as_str() }),
        Rejection::InvalidTransition { from, change } => {
            json!({ "event_status": from.as_str(), "change": format!("{change:?}").to_lowercase() })
        }
        Rejection::UnknownSeat { seats } | Rejection::SeatUnavailable { seats } => {
            json!({ "seat_ids": seats.iter().map(ToString::to_string).collect::<Vec<_>>() })
        }
        Rejection::InsufficientInventory {
            requested,
            available,
        } => json!({ "requested": requested, "available": available }),
        Rejection::HoldNotActive { status } => match status {
            HoldStatus::Purchased { order } => {
                json!({ "reservation_status": hold_status(*status), "order_number": order })
            }
            _ => json!({ "reservation_status": hold_status(*status) }),
        },
        Rejection::LimitExceeded {
            limit,
            max,
            requested,
        } => json!({ "limit": limit.as_str(), "max": max, "requested": requested }),
        _ => json!({}),
    };
    match details {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl From<ClientError> for HttpError {
    fn from(error: ClientError) -> HttpError {
        match error {
            ClientError::InvalidArgument(message) => HttpError::Invalid(message),
            ClientError::UnknownEvent(event) => HttpError::NotFound {
                code: "UNKNOWN_EVENT",
                message: format!("no such event: {event}"),
            },
            ClientError::NotBootstrapped => {
                HttpError::Unavailable("the cluster is not bootstrapped".into())
            }
            ClientError::AlreadyBootstrapped => {
                HttpError::Internal("unexpected bootstrap answer".into())
            }
            ClientError::Unavailable(reason) => HttpError::Unavailable(reason),
            ClientError::Indeterminate { reason, .. } => HttpError::OutcomeUnknown { reason },
            ClientError::Protocol(reason) => HttpError::Internal(reason),
            ClientError::TestingDisabled(reason) => {
                HttpError::Internal(format!("unexpected testing answer: {reason}"))
            }
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() && !matches!(self, HttpError::Overloaded) {
            tracing::warn!(code = self.code(), error = %self, "HTTP request failed");
        }
        let retry_after = self.retry_after_s();
        let unauthenticated = matches!(self, HttpError::Unauthenticated);
        // The rest of a body past the limit is never read, so the connection cannot serve another
        // request: say so, or a client reuses it and its next request fails as the server closes it.
        let close = matches!(self, HttpError::PayloadTooLarge(_));
        let mut response = (status, axum::Json(self.body())).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"boxoffice\""),
            );
        }
        response
    }
}
